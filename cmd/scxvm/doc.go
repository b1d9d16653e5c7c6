// Command scxvm tests sched_ext schedulers in QEMU guests.
//
//	scxvm run [flags] [SCENARIO|FILE ...]   boot, run scenarios, print a verdict
//	scxvm scenarios [NAME]                  list built-in scenarios, or print one as YAML
//	scxvm kernel check PATH|NAME            can this kernel run sched_ext?
//	scxvm shell [flags]                     interactive shell in the guest
//	scxvm bench [flags]                     benchmark table
//	scxvm cache du|prune [flags]            the cache's size bound
//
// The guest's init is scxvm-agent (cmd/scxvm-agent), found next to this
// executable. This binary can be the guest's init too: when it runs as
// PID 1, or as the agent's session process, main hands over to
// agent.Main, and worker processes, re-executions of it, are caught first
// thing by workload.RunWorkerIfChild; it is the fallback when there is no
// scxvm-agent (workers start more slowly: see cmd/scxvm-agent). Otherwise
// main calls
// run(ctx, args, stdout, stderr) and maps its error to an exit code for
// `git bisect run` and CI: 0 pass, 1 a check failed or the scheduler or
// kernel misbehaved, 2 usage, 125 the kernel has no sched_ext, 128
// internal error, 129 infrastructure error (QEMU, kernel cache, image
// build), 130 interrupted. Everything else lives in package vmtest.
//
// Environment: SCXVM_CACHE_DIR (cache root), SCXVM_CACHE_MAX (bound of
// its images and extracted kernels), SCXVM_AGENT (agent binary to
// boot instead of scxvm-agent), and those of packages vmtest, kernel,
// initramfs and host.
package main
