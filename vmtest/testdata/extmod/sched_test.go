// Package scxvmuser is a test module outside scxvm: its test boots a
// guest through scxvm's Go API the way a scheduler project's tests would.
package scxvmuser

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scxvm/scxvm/spec"
	"github.com/scxvm/scxvm/vmtest"
)

// agent is the guest agent, built once from the scxvm version this
// module's go.mod selects.
var agent string

func TestMain(m *testing.M) {
	var err error
	agent, err = vmtest.BuildAgent(context.Background(), filepath.Join(os.TempDir(), "scxvm-agent"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestSteady(t *testing.T) {
	steady, err := vmtest.LookupScenario("steady")
	if err != nil {
		t.Fatal(err)
	}
	res := vmtest.RunT(t, vmtest.Config{
		Kernel:    "debian", // fetched into the cache on first use
		Scheduler: spec.Scheduler{Name: "fifo"},
		Agent:     agent,
		Scenarios: []spec.Scenario{steady},
	})
	t.Logf("kernel %s, accel %s, boot to hello %v", res.Kernel.Release, res.Accel, res.BootToHello)
}
