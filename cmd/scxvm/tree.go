package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/scxvm/scxvm/kernel"
	"github.com/scxvm/scxvm/vmtest"
)

// configFromFlags returns the VM configuration of the parsed flags, with
// the kernel tree the current directory is in as the kernel when --kernel
// was not given (kernelFromTree); the note saying so goes to stderr.
func (v *vmFlags) configFromFlags(fs *flag.FlagSet, stderr io.Writer) (vmtest.Config, error) {
	note, err := v.kernelFromTree(fs)
	if err != nil {
		return vmtest.Config{}, err
	}
	if note != "" {
		fmt.Fprintf(stderr, "scxvm: %s\n", note)
	}
	return v.config()
}

// kernelFromTree sets the kernel to the kernel tree the current directory
// is in when --kernel was not given, and returns a note saying so ("" when
// it changed nothing). A tree that is found but not built is an error
// (exit 132): booting Debian's kernel instead would judge the wrong kernel,
// in a `git bisect run` above all.
func (v *vmFlags) kernelFromTree(fs *flag.FlagSet) (string, error) {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "kernel" })
	if set {
		return "", nil
	}
	cwd, err := os.Getwd()
	if err != nil {
		return "", &vmtest.InfraError{Op: "find kernel tree", Err: err}
	}
	t, err := kernel.FindTree(cwd)
	if err != nil {
		return "", &vmtest.InfraError{Op: "find kernel", Err: fmt.Errorf("%w (the current directory is in this tree; --kernel debian boots Debian's kernel instead)", err)}
	}
	if t == nil {
		return "", nil
	}
	v.kernel = t.Dir
	return "kernel: " + t.Image + " of the kernel tree " + t.Dir + " (the current directory's; --kernel debian boots Debian's)", nil
}
