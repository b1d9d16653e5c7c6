package pass

import "testing"

func TestA(t *testing.T) {}

func TestSub(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) {
		t.Skip("SKIPPING: needs hardware vhost-vsock: /dev/vhost-vsock missing (try: modprobe vhost_vsock)")
	})
}
