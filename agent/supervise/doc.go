// Package supervise starts a sched_ext scheduler inside the guest and
// watches it until it is stopped: an external loader binary, one of the
// built-in schedulers of package builtin, or none (the kernel's default
// scheduler).
//
// Start returns once the scheduler is attached (sched_ext state "enabled"
// and root/ops naming it) or with a *LoadError carrying the loader's
// output and exit status. While it runs, the Supervisor polls
// /sys/kernel/sched_ext and the loader's liveness every PollInterval, takes
// kernel log records through Kernel, and reports exactly one terminal
// event: "ejected" (with the kernel's reason line and the stall or error
// lines that follow it), "died" (the loader exited) or "detached" (Stop).
//
//	s := supervise.New(supervise.Spec{Path: "/sched/scx_simple"}, supervise.Config{
//		OnEvent: func(e supervise.Event) { send(e) },
//	})
//	go func() { for rec := range kernelLog { s.Kernel(rec) } }()
//	err := s.Start(ctx)
//	var le *supervise.LoadError
//	if errors.As(err, &le) { ... le.Event.Log ... }
//	...
//	s.Stop(ctx) // SIGINT, then SIGKILL after Config.StopGrace
//
// The package reads no environment variables.
package supervise
