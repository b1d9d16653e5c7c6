// Package console watches a Linux guest's serial console: it splits the
// byte stream into lines, keeps the most recent lines in a ring buffer for
// excerpts, copies everything to a log, and detects the kernel's failure
// reports (panic, oops, ktext.BUG, WARNING, RCU stall, hung task), attributing
// each one with its line and the lines around it.
//
// Usage:
//
//	m := console.NewMonitor(console.Options{Log: f})
//	go io.Copy(m, serial) // drain continuously
//	for ev := range m.Events() { ... }
//	m.Close()             // flush pending events, close Events()
//	tail := m.Tail(20)
//
// Note that with the kernel argument "quiet" the console only shows
// messages of level KERN_ERR and above: oops, ktext.BUG, panic, RCU stalls and
// hung tasks, but not WARNING (KERN_WARNING). A guest-side reader of
// /dev/kmsg sees everything.
//
// The package reads no environment variables.
package console
