package crash

import (
	"os"
	"testing"
)

func TestWaits(t *testing.T) {
	t.Parallel()
	select {}
}

func TestExits(t *testing.T) {
	t.Parallel()
	t.Log("about to exit")
	os.Exit(3)
}
