// Command scxvm tests sched_ext schedulers in QEMU guests.
//
//	scxvm run [flags] [SCENARIO|FILE ...]   boot, run scenarios, print a verdict
//	scxvm scenarios [flags] [NAME]          list built-in scenarios and thresholds, or print one as YAML
//	scxvm kernel check PATH|NAME|TREE       can this kernel run sched_ext?
//	scxvm kernel fetch [NAME]               download Debian's kernel NAME into the cache
//	scxvm kernel list                       the cached kernels and where they came from
//	scxvm kernel build [DIR]                configure and build a kernel tree for scxvm
//	scxvm shell [flags]                     interactive shell in the guest
//	scxvm matrix [flags] [MATRIX.yaml]      kernels x schedulers x scenarios x topologies (matrix.go)
//	scxvm report [flags] RESULT.json        HTML report and Perfetto trace of a result
//	scxvm report merge [flags] SHARD.json...  merge the shards of a matrix run (matrix.go)
//	scxvm bench [flags]                     benchmark table
//	scxvm cache du|prune [flags]            the cache's size bound
//
// The guest's init is scxvm-agent (cmd/scxvm-agent), found next to this
// executable or on $PATH (`go install github.com/scxvm/scxvm/cmd/...`
// installs both; nothing is read from scxvm's repository at run time).
// Without --kernel, run and shell boot the kernel tree the current
// directory is in, if any. main calls run(ctx, args, stdout, stderr) and maps its error to an exit code for
// `git bisect run` and CI: 0 pass, 1 a check failed or the scheduler or
// kernel misbehaved, 125 the kernel has no sched_ext (or, for kernel
// build, does not build), and from 128 up the
// outcomes that are no verdict on the commit (they stop a bisect): 128
// internal error, 129 infrastructure error (QEMU, kernel cache, image
// build), 130 interrupted, 131 usage, 132 the kernel file is not a usable
// kernel image (exitcode.go). Everything else lives in package vmtest.
//
// Environment: SCXVM_CACHE_DIR (cache root), SCXVM_CACHE_MAX (bound of
// its images, extracted kernels and snapshots), SCXVM_AGENT (agent binary to
// boot instead of scxvm-agent), and those of packages vmtest, kernel,
// initramfs and host.
package main
