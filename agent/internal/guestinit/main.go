// Command guestinit is the scxvm agent alone, for the agent's boot tests:
// built static and placed at /init, it runs agent.Main exactly as the
// scxvm binary does when it is the guest's init.
package main

import (
	"fmt"
	"os"

	"github.com/scxvm/scxvm/agent"
	"github.com/scxvm/scxvm/workload"
)

func main() {
	workload.RunWorkerIfChild()
	if agent.IsGuest() {
		agent.Main()
	}
	fmt.Fprintln(os.Stderr, "guestinit: the scxvm agent for boot tests; it runs as a guest's /init")
	os.Exit(2)
}
