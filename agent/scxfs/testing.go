package scxfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// Fake is a writable sched_ext tree for tests (and fake loaders): it lays
// out the same files as the kernel under a directory of the caller's.
type Fake struct {
	// Dir is the directory that stands for /sys/kernel/sched_ext.
	Dir string
}

// NewFake creates a disabled sched_ext tree under dir.
func NewFake(dir string) (*Fake, error) {
	f := &Fake{Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create fake sched_ext: %w", err)
	}
	for name, v := range map[string]string{
		"state": StateDisabled, "switch_all": "0", "nr_rejected": "0",
		"hotplug_seq": "0", "enable_seq": "0",
	} {
		if err := f.write(name, v); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// Enable marks ops as loaded and enabled and bumps enable_seq.
func (f *Fake) Enable(ops string) error {
	st, err := Read(f.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(f.Dir, "root"), 0o755); err != nil {
		return fmt.Errorf("create fake root: %w", err)
	}
	if err := f.write("root/ops", ops); err != nil {
		return err
	}
	if err := f.write("enable_seq", fmt.Sprint(st.EnableSeq+1)); err != nil {
		return err
	}
	return f.write("state", StateEnabled)
}

// Disable marks the scheduler as unloaded.
func (f *Fake) Disable() error {
	if err := f.write("state", StateDisabled); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(f.Dir, "root")); err != nil {
		return fmt.Errorf("remove fake root: %w", err)
	}
	return nil
}

func (f *Fake) write(name, v string) error {
	// Write then rename so a concurrent reader never sees a torn file.
	p := filepath.Join(f.Dir, name)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(v+"\n"), 0o644); err != nil {
		return fmt.Errorf("write fake %s: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write fake %s: %w", name, err)
	}
	return nil
}
