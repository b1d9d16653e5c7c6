// Package ktext reads the kernel's own words: sched_ext's lines in the
// kernel log ("BPF scheduler ... disabled (REASON)", stall and error
// messages) and failure reports (panic, oops, BUG, WARNING, RCU stalls,
// hung tasks) on the console or in the log. It is pure text parsing, used
// by the guest agent (kernel log) and by the host (console, results) alike,
// so both sides classify the same line the same way.
package ktext
