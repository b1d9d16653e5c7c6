package kernel

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Config is a parsed kernel configuration: option name (with its CONFIG_
// prefix) to value ("y", "m", a number or a quoted string). Options that are
// "not set" are absent.
type Config map[string]string

// ParseConfig reads a .config style file.
func ParseConfig(r io.Reader) (Config, error) {
	c := make(Config)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(name, "CONFIG_") {
			continue
		}
		if val == "n" {
			continue
		}
		c[name] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse kernel config: %w", err)
	}
	return c, nil
}

// Get returns the value of option name; the CONFIG_ prefix is optional.
// It returns "" for options that are not set.
func (c Config) Get(name string) string {
	if !strings.HasPrefix(name, "CONFIG_") {
		name = "CONFIG_" + name
	}
	return c[name]
}

// Builtin reports whether option name is set to y.
func (c Config) Builtin(name string) bool { return c.Get(name) == "y" }

// Enabled reports whether option name is y or m.
func (c Config) Enabled(name string) bool {
	v := c.Get(name)
	return v == "y" || v == "m"
}

// IKConfig markers around the gzip'd .config that CONFIG_IKCONFIG embeds in
// the kernel (kernel/configs.c).
var (
	ikcfgStart = []byte("IKCFG_ST")
	ikcfgEnd   = []byte("IKCFG_ED")
)

// errBadIKConfig is wrapped by ikconfig when the embedded config is there
// but cannot be read.
var errBadIKConfig = errors.New("embedded config")

// ikconfig extracts the configuration embedded with CONFIG_IKCONFIG from a
// decompressed kernel, or returns nil when there is none.
func ikconfig(vmlinux []byte) (Config, error) {
	i := bytes.Index(vmlinux, ikcfgStart)
	if i < 0 {
		return nil, nil
	}
	data := vmlinux[i+len(ikcfgStart):]
	if j := bytes.Index(data, ikcfgEnd); j >= 0 {
		data = data[:j]
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadIKConfig, err)
	}
	zr.Multistream(false)
	c, err := ParseConfig(zr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadIKConfig, err)
	}
	return c, nil
}
