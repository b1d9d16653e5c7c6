// Package vmtest boots a kernel in QEMU, runs sched_ext scheduler
// scenarios in the guest and judges the results on the host. It is the Go
// API behind the scxvm command and the way host-side Go tests boot guests.
//
// # Usage
//
// In a module of your own (Go 1.24 or later), require scxvm and record its
// guest agent as a tool of the module, so that BuildAgent builds the agent
// from the scxvm version your go.mod selects (the host side and the agent
// must match: the handshake refuses a mismatch) and `go mod tidy` keeps
// the agent's dependencies in go.sum:
//
//	go get github.com/scxvm/scxvm@VERSION
//	go get -tool github.com/scxvm/scxvm/cmd/scxvm-agent
//
// The host needs qemu-system-x86_64; nothing else is read from scxvm's
// repository. A test package that boots guests builds the agent (the
// static binary that runs as the guest's init) once, in TestMain, and uses
// it in every Config:
//
//	var agent string
//
//	func TestMain(m *testing.M) {
//		var err error
//		agent, err = vmtest.BuildAgent(context.Background(), filepath.Join(os.TempDir(), "scxvm-agent"))
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		os.Exit(m.Run())
//	}
//
//	func TestMyScheduler(t *testing.T) {
//		steady, _ := vmtest.LookupScenario("steady")
//		custom, err := scenariofile.Load("testdata/burst.yaml")
//		if err != nil {
//			t.Fatal(err)
//		}
//		res := vmtest.RunT(t, vmtest.Config{
//			Kernel:    "debian", // fetched on first use; or a bzImage path, or a built kernel tree
//			Scheduler: spec.Scheduler{Path: "./build/scx_mine", Args: []string{"-v"}},
//			Agent:     agent,
//			Scenarios: append([]spec.Scenario{steady}, custom...),
//		})
//		t.Logf("boot to hello %v; steady did %d iterations", res.BootToHello, res.Scenario("steady").Iterations()["steady"])
//	}
//
// BuildAgent runs `go build github.com/scxvm/scxvm/cmd/scxvm-agent` with
// CGO_ENABLED=0 in the module of the current directory (GOFLAGS and the
// rest of the environment apply); the go tool relinks only when a source
// changed, so a warm call costs a few tenths of a second and the
// initramfs cache (keyed by content) stays warm between test runs. A
// kernel that package kernel/fetch knows ("debian", "stock-6.12") and the
// cache lacks is fetched before the first boot (Event kind EventFetch).
// vmtest/testdata/extmod is such a module; TestExternalModule runs its
// test, and fails it when the agent does not compile.
//
// # What Run does
//
// Run looks the kernel up (package kernel), refuses a kernel without
// sched_ext with an error wrapping ErrNotSupported (unless the scheduler
// is "none"), builds the base initramfs (package initramfs: agent, kernel
// config and modules), starts QEMU (package host), waits for the agent's
// Hello, sends the run's files over the channel (scheduler binaries and
// their libraries, extra files) with the wall clock and fresh entropy,
// takes the agent's answering Hello, sends one Job per scenario (two with
// Compare: the scheduler, then the Compare scheduler, "none" for EEVDF;
// all of it Repeat times), and collects progress, scheduler events,
// kernel log lines, worker reports, sched_ext telemetry
// (ScenarioResult.Telemetry) and the job result. The checks (package
// vmtest/check; thresholds resolved per job from the defaults, the
// scheduler's layer and the scenario's spec.Checks, recorded in
// ScenarioResult.Checks) are evaluated on the host, so raw reports are
// never lost. A scheduler that exits with an error brings the kernel's
// debug dump (SchedEvent.Dump). Result.Summary holds every metric
// (Metrics: throughput and wake-up latency per cgroup, ...) as median and
// spread over the repetitions; package vmtest/compare compares two
// Results.
//
// # Warm starts
//
// Unless Config.Cold is set, the first run of a machine (kernel, agent,
// base image, QEMU, machine and cpu model, topology, memory, kernel
// command line) saves the guest's state into the cache right after the
// agent's first Hello, before any scheduler or workload, and later runs
// of the same machine (repeated calls of Run in a test binary, the
// scheduler matrix, the CLI) restore it instead of booting: the Hello
// comes in a fraction of the boot's time. Result.Start says "warm" or
// "cold", StartNote why cold, Snapshot what was saved or restored. A
// snapshot that does not restore is deleted and the run boots cold with a
// note. Both transports are restored: a virtio-serial port survives a
// restore as is; over vsock the restored guest gets a fresh CID and the
// host dials its parked agent (see package host's VM.Accept and the
// README). Shell, and a run with Config.Shares (QEMU does not migrate a
// mounted virtio-9p export), always boot cold.
//
// Every failure is attributed (Failure.Kind): the scheduler did not load
// (with its output and the verifier's), the kernel ejected it (with the
// kernel's reason and stall lines), it died, a worker crashed, the kernel
// panicked (with a console excerpt), the guest hung or vanished before
// its Bye, or a check failed.
//
// Errors map to exit codes in the CLI: *Failure (1), ErrNotSupported
// (125), *InfraError (QEMU, kernel cache, image build: 129),
// *ConfigError and *spec.ValidationError (usage, 131), ErrBadKernel (a file
// that is no usable kernel image, 132).
//
// # A command as the test
//
// Config.Exec runs a command in the guest as the test (what `scxvm exec`
// does): ExecScenario's one payload, whose exit status must be 0 (check
// payload_exit; a failure is attributed as FailPayload), no workers, and
// ExecTimeout as its limit (a command still running then is killed and
// the run fails as FailTimeout, naming the command and the limit). A host
// executable is copied into the guest at its path with its shared
// libraries.
//
//	res, err := vmtest.Run(ctx, vmtest.Config{
//		Agent:        agent,
//		Scheduler:    spec.Scheduler{Name: "scx_simple"},
//		Exec:         []string{"./runner", "-t", "foo"},
//		ExecTimeout:  5 * time.Minute,
//		OutputPrefix: t.TempDir() + "/",        // the whole output: Payloads[0].OutputFile
//		Collect:      []vmtest.Collect{{Guest: "/results", Host: "results"}},
//	})
//
// Any payload's output is streamed to the host as it is written:
// Config.Progress receives it (EventOutput) and Config.OutputPrefix
// saves it whole; PayloadResult.Output keeps its head and tail. A
// payload's ExpectExit makes its exit status count in any scenario.
//
// # Scenarios
//
// Scenarios() lists the built-in catalogue (steady, oversubscribed,
// cpuset-disjoint, cpuset-resize, pingpong, fanout, churn, mixed), sized
// for the default 2-cpu guest. LoadScenarioFile reads custom scenarios
// from YAML or JSON with the same fields (a spec.Scenario plus
// description, checks and timeout); decoding is strict and errors name
// the file, line, field and allowed values.
//
// # Tests and benchmarks
//
// The package's end-to-end tests (e2e_test.go) boot the cached Debian 7.3
// and 6.12 kernels under whatever accelerator the host offers: built-in
// fifo and scx_simple pass steady, the stall and error fixtures are
// ejected with the kernel's reason, a loader that exits at once is a load
// failure with its output, SysRq-C is reported as a panic with the console
// excerpt, a kernel without sched_ext gives ErrNotSupported, and two VMs
// run side by side. `go test -short` skips them. The benchmarks (boot to
// Hello against a minimal static init, overhead per extra scenario in one
// boot, report throughput, round trips against perf bench in the guest,
// spawn of 256 workers, host driver peak RSS) live in package vmtest/bench
// and print one table with `scxvm bench` (`make bench`).
//
// # Environment
//
//	SCXVM_CACHE_DIR  cache root when Config.CacheDir is empty (kernels,
//	                 schedulers, initramfs images, extracted vmlinux
//	                 files, snapshots); else $XDG_CACHE_HOME/scxvm, else
//	                 ~/.cache/scxvm
//	SCXVM_CACHE_MAX  bound of the images, vmlinux files and snapshots when
//	                 Config.CacheMax is zero (default 2G)
//	SCXVM_AGENT      agent binary when Config.Agent is empty
//	SCXVM_DEBIAN_MIRROR, SCXVM_DEBIAN_SECURITY_MIRROR, SCXVM_DEBIAN_SUITE,
//	SCXVM_DEBIAN_ABI  where a missing kernel is fetched from (see
//	                 package kernel/fetch)
//	CI               when set, the end-to-end tests fail instead of
//	                 skipping on a missing prerequisite
package vmtest
