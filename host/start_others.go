//go:build !linux

package host

import "context"

// Start returns ErrUnsupported: running VMs needs Linux.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	return nil, ErrUnsupported
}
