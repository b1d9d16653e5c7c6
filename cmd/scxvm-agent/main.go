// Command scxvm-agent is the guest side of scxvm alone: the static binary
// that scxvm puts at the guest's /init. It runs agent.Main as PID 1, and
// its re-executions are the guest's process workers.
//
// The scxvm command can be the guest's /init too (it carries the agent),
// but every process worker is a re-execution of /init, and a worker pays
// for the start-up of the whole binary before it reaches the workload
// package: the host-side packages of scxvm (the kernel image readers with
// their compression tables, the initramfs writer, YAML, ...) double the
// cost of starting a worker under TCG (about 80 ms against 40 ms). scxvm
// run and vmtest.BuildAgent therefore prefer this binary.
//
// Build it static, next to scxvm:
//
//	CGO_ENABLED=0 go build -o bin/scxvm-agent ./cmd/scxvm-agent
package main

import (
	"fmt"
	"os"

	"github.com/scxvm/scxvm/agent"
	"github.com/scxvm/scxvm/workload"
)

func main() {
	workload.RunWorkerIfChild() // never returns in a worker process
	if agent.IsGuest() {
		agent.Main() // never returns: the agent powers the guest off
	}
	fmt.Fprintln(os.Stderr, "scxvm-agent is the guest side of scxvm: it runs as a guest's /init, where scxvm run puts it. Run scxvm instead.")
	os.Exit(2)
}
