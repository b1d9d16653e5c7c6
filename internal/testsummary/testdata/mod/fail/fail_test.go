package fail

import "testing"

func TestFail(t *testing.T) {
	t.Log("before")
	t.Error("boom")
}

func TestOK(t *testing.T) {}
