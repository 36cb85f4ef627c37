/*
 * x86-64 (System V) context switch for lrt tasks.
 *
 * void lrt__ctx_switch(void **save_sp, void *to_sp)
 *   Saves the callee-saved registers, MXCSR and the x87 control word on the current
 *   stack, stores the stack pointer in *save_sp, switches to to_sp and restores the same
 *   frame there.
 *
 *   It ends with `ret`, not with `pop; jmp *reg`: an indirect jmp would leave the
 *   return-stack buffer one entry deep, and every later `ret` of the resumed task would
 *   mispredict.  With `ret`, the entry pushed by `call lrt__ctx_switch` predicts where
 *   the other task resumes whenever both switched at the same call site.  There are three
 *   sites (core.c: schedule(), its traced copy, and lrt__switch_in on the scheduler
 *   stack); task-to-task switches with tracing off all use the
 *   first, so the hot path predicts every return.  Figures: docs/performance.md.
 *
 * Saved frame, from the saved sp upwards:
 *   0: MXCSR (4 bytes) | x87 CW (2 bytes) | pad
 *   8: r15  16: r14  24: r13  32: r12  40: rbx  48: rbp  56: return address
 * dump.c relies on this layout to seed libunwind with a suspended task's registers.
 */
#if defined(__x86_64__)
    .text
/* Push the saved frame described above and store the stack pointer in *%rdi. */
    .macro SAVE_CONTEXT
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    .endm

    .globl  lrt__ctx_switch
    .hidden lrt__ctx_switch
    .type   lrt__ctx_switch, @function
    .p2align 4
lrt__ctx_switch:
    .cfi_startproc
    SAVE_CONTEXT
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   lrt__ctx_switch, .-lrt__ctx_switch

/*
 * void lrt__ctx_start(void **save_sp, void *top, void (*entry)(void *), void *arg)
 *   A task's first run.  Saves the current context exactly as lrt__ctx_switch does (so
 *   it is resumed by a later lrt__ctx_switch), moves to the fresh stack whose 16-byte
 *   aligned top is @top, loads the default MXCSR and x87 control word and jumps to
 *   lrt__ctx_entry with entry in r13 and arg in r12.  A direct jmp, not a `ret` into the
 *   trampoline: that `ret` mispredicted once per new task (chained_spawn).
 */
    .globl  lrt__ctx_start
    .hidden lrt__ctx_start
    .type   lrt__ctx_start, @function
    .p2align 4
lrt__ctx_start:
    .cfi_startproc
    SAVE_CONTEXT
    movq    %rsi, %rsp
    ldmxcsr lrt__mxcsr_default(%rip)
    fldcw   lrt__fpucw_default(%rip)
    movq    %rdx, %r13
    movq    %rcx, %r12
    jmp     lrt__ctx_entry
    .cfi_endproc
    .size   lrt__ctx_start, .-lrt__ctx_start

    .section .rodata
    .p2align 2
lrt__mxcsr_default:
    .long   0x1F80          /* all exceptions masked, round to nearest */
lrt__fpucw_default:
    .word   0x037F          /* default x87 control word */
    .text

/*
 * First frame of every task (reached from lrt__ctx_start) with entry in r13 and its
 * argument in r12.  `.cfi_undefined rip` and a zero rbp tell unwinders (libunwind, gdb) that the
 * stack ends here, as glibc's _start and clone do.
 */
    .globl  lrt__ctx_entry
    .hidden lrt__ctx_entry
    .type   lrt__ctx_entry, @function
    .p2align 4
lrt__ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    xorl    %ebp, %ebp
    movq    %r12, %rdi
    callq   *%r13
    ud2
    .cfi_endproc
    .size   lrt__ctx_entry, .-lrt__ctx_entry
#endif
    .section .note.GNU-stack,"",@progbits
