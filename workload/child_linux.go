package workload

import (
	"encoding/base64"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/scxvm/scxvm/spec"
	"golang.org/x/sys/unix"
)

// Environment variables that turn a re-executed binary into a worker.
const (
	envWorker   = "SCXVM_WORKLOAD_WORKER"   // base64 of appendSpec
	envForkExit = "SCXVM_WORKLOAD_FORKEXIT" // spec.ForkExit child without vfork support: exit at once
)

// init starts a worker as early as the program allows. Package
// initialisation runs on the startup thread (runtime.LockOSThread), and a
// worker that starts here skips the init functions of every package that
// does not precede this one in the initialisation order: in the scxvm
// binary about 40% of its package initialisation (cilium/ebpf, net, zstd,
// the vmtest packages, ...), paid again by every worker. Workers of kind
// Custom wait for RunWorkerIfChild in main instead: the packages that
// register their functions with RegisterCustom initialise after this one.
func init() {
	ws, isWorker, err := childSpec()
	if !isWorker {
		return
	}
	if err != nil || ws.Config.WorkType.Kind != spec.Custom {
		// The runtime keeps init on the main thread (tid == pid), which
		// is all the worker needs: no runtime.LockOSThread, whose
		// template thread would cost a clone.
		os.Exit(childMain(ws, err))
	}
	// Keep the main goroutine on the main thread (tid == pid) until
	// RunWorkerIfChild, so that sched_setaffinity, sched_setscheduler and
	// /proc/PID/* applied to the worker's pid act on the thread that runs
	// the loop.
	runtime.LockOSThread()
}

// RunWorkerIfChild turns the process into a worker when it was started by
// Spawn, and never returns in that case. In any other process it returns at
// once. Call it first thing in main, and in TestMain of every test binary
// that spawns process workers, before flag parsing or any other set-up.
// (Built-in work types start from this package's init function and never
// reach main; workers of kind Custom run from here.)
func RunWorkerIfChild() {
	if ws, isWorker, err := childSpec(); isWorker {
		os.Exit(childMain(ws, err))
	}
}

// childSpec returns the ws this process was spawned with; isWorker is
// false in any other process. A ForkExit child exits here at once.
func childSpec() (ws workerSpec, isWorker bool, err error) {
	if os.Getenv(envForkExit) != "" {
		os.Exit(0)
	}
	blob := os.Getenv(envWorker)
	if blob == "" {
		return workerSpec{}, false, nil
	}
	ws, err = parseSpec(blob)
	return ws, true, err
}

// parseSpec decodes the worker ws from its environment variable.
func parseSpec(blob string) (workerSpec, error) {
	raw, err := base64.RawURLEncoding.DecodeString(blob)
	if err != nil {
		return workerSpec{}, err
	}
	return decodeSpec(raw)
}

// Exit codes of a worker that did not report.
const (
	exitBadSpec  = 70
	exitOrphan   = 71
	exitSetup    = 72
	exitNoStart  = 73
	exitNoReport = 74
)

func childMain(ws workerSpec, specErr error) int {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	// GOGC=off in the environment already; this holds even if the
	// binary overrides it. Thread workers leave the caller's GC alone: the
	// loops do not allocate.
	debug.SetGCPercent(-1)
	os.Unsetenv(envWorker) // the worker's own children are not workers
	if specErr != nil {
		return exitBadSpec
	}
	if os.Getppid() != ws.Parent {
		return exitOrphan // the parent died before PR_SET_PDEATHSIG was armed
	}
	cfg := ws.Config.WithDefaults()
	s, err := mapShm(childShmFd, layoutOf(cfg))
	if err != nil {
		writeReady(err)
		return exitSetup
	}
	w := newWorker(ws, s, true)
	if err := w.setup(); err != nil {
		writeReady(err)
		return exitSetup
	}
	if writeReady(nil) != nil {
		return exitNoReport
	}
	if !waitStartFd(childStartFd, s) {
		return exitNoStart
	}
	r := w.run()
	if writeFrame(childReportFd, frameReport, appendReport(nil, &r)) != nil {
		return exitNoReport
	}
	return 0
}

func writeReady(err error) error {
	payload := binary.LittleEndian.AppendUint32(nil, uint32(unix.Gettid()))
	if err != nil {
		payload = append(payload, err.Error()...)
	}
	return writeFrame(childReportFd, frameReady, payload)
}

// forkExecExit is ForkExit's fallback where vforkExit is not implemented:
// re-execute the binary with envForkExit set, which exits at once in
// RunWorkerIfChild.
func forkExecExit() (int, error) {
	return syscall.ForkExec("/proc/self/exe", []string{"scxvm-forkexit"},
		&syscall.ProcAttr{Env: []string{envForkExit + "=1"}})
}
