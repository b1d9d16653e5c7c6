package skip

import "testing"

func TestPrereq(t *testing.T) {
	t.Log("looking for the kernel")
	t.Skip("SKIPPING: prerequisite missing: kernel not in cache\n(run `make kernel`)")
}

func TestKVM(t *testing.T) {
	t.Skip("SKIPPING: needs hardware kvm: /dev/kvm missing")
}

func TestBare(t *testing.T) { t.SkipNow() }
