package protocol

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// BuildID identifies the running binary, for Hello.AgentBuildID and the
// host's comparison with it. It is the content hash part of the Go build
// ID stored in the executable (equal for byte-identical binaries), else the
// VCS revision recorded at build time ("+dirty" when modified), else
// "unknown". The host and the agent are the same scxvm binary, so a
// difference means the initramfs is stale.
func BuildID() string { return buildID() }

var buildID = sync.OnceValue(func() string {
	if exe, err := os.Executable(); err == nil {
		if id := goBuildID(exe); id != "" {
			return id
		}
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev string
		var dirty bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "+dirty"
			}
			return rev
		}
	}
	return "unknown"
})

// goBuildID returns the last component of the Go build ID in the ELF note
// section .note.go.buildid of the executable at path, or "".
func goBuildID(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	note, err := sec.Data()
	if err != nil {
		return ""
	}
	return parseGoBuildIDNote(note, f.ByteOrder)
}

// parseGoBuildIDNote parses an ELF note of name "Go" and type 4 whose
// descriptor is the build ID "actionID/.../contentID".
func parseGoBuildIDNote(note []byte, order binary.ByteOrder) string {
	const goBuildIDType = 4
	if len(note) < 16 {
		return ""
	}
	nameSize := order.Uint32(note[0:])
	descSize := order.Uint32(note[4:])
	typ := order.Uint32(note[8:])
	if nameSize != 4 || typ != goBuildIDType || !bytes.Equal(note[12:16], []byte("Go\x00\x00")) {
		return ""
	}
	desc := note[16:]
	if uint64(descSize) > uint64(len(desc)) {
		return ""
	}
	id := string(desc[:descSize])
	return id[strings.LastIndexByte(id, '/')+1:]
}
