package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxDepth bounds the nesting of a body. The deepest message (Job: scenario
// -> cgroups -> workloads -> work type -> phases -> phase) nests about ten
// levels.
const maxDepth = 32

var errStructure = errors.New("bad msgpack structure")

// checkStructure verifies that b holds exactly one well-formed msgpack
// value whose every declared length fits in what is left of b, nested at
// most maxDepth deep. The msgpack decoder trusts declared lengths when it
// allocates (a 5-byte array header can ask for 4 G elements), so a body
// goes through this linear scan, without allocation, before it is decoded:
// afterwards every slice, string and map the decoder makes is backed by
// bytes that are really there.
func checkStructure(b []byte) error {
	var stack [maxDepth]uint64 // values still due at each enclosing level
	depth := 0
	due := uint64(1) // values still due at the current level
	i := 0
	for {
		if due == 0 {
			if depth == 0 {
				break
			}
			depth--
			due = stack[depth]
			continue
		}
		if i >= len(b) {
			return fmt.Errorf("%w: body ends at byte %d with %d values due", errStructure, i, due)
		}
		c := b[i]
		i++
		due--

		var (
			skip  uint64 // bytes of payload after the code and length
			count uint64 // values in a container
			isCon bool
		)
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
			// fixint, negative fixint, nil, false, true
		case c >= 0x80 && c <= 0x8f:
			count, isCon = 2*uint64(c&0x0f), true
		case c >= 0x90 && c <= 0x9f:
			count, isCon = uint64(c&0x0f), true
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		default:
			var n uint64
			var err error
			switch c {
			case 0xc4, 0xd9: // bin8, str8
				n, i, err = readLen(b, i, 1)
				skip = n
			case 0xc5, 0xda: // bin16, str16
				n, i, err = readLen(b, i, 2)
				skip = n
			case 0xc6, 0xdb: // bin32, str32
				n, i, err = readLen(b, i, 4)
				skip = n
			case 0xc7: // ext8: length, type, data
				n, i, err = readLen(b, i, 1)
				skip = n + 1
			case 0xc8:
				n, i, err = readLen(b, i, 2)
				skip = n + 1
			case 0xc9:
				n, i, err = readLen(b, i, 4)
				skip = n + 1
			case 0xca, 0xce, 0xd2: // float32, uint32, int32
				skip = 4
			case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
				skip = 8
			case 0xcc, 0xd0: // uint8, int8
				skip = 1
			case 0xcd, 0xd1: // uint16, int16
				skip = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 plus type
				skip = 1 + 1<<(c-0xd4)
			case 0xdc: // array16
				n, i, err = readLen(b, i, 2)
				count, isCon = n, true
			case 0xdd: // array32
				n, i, err = readLen(b, i, 4)
				count, isCon = n, true
			case 0xde: // map16
				n, i, err = readLen(b, i, 2)
				count, isCon = 2*n, true
			case 0xdf: // map32
				n, i, err = readLen(b, i, 4)
				count, isCon = 2*n, true
			default: // 0xc1 is never used
				return fmt.Errorf("%w: invalid code %#02x at byte %d", errStructure, c, i-1)
			}
			if err != nil {
				return err
			}
		}
		left := uint64(len(b) - i)
		if isCon {
			// Every value takes at least one byte.
			if count > left {
				return fmt.Errorf("%w: container at byte %d declares %d values in %d remaining bytes", errStructure, i-1, count, left)
			}
			if count > 0 {
				if depth == maxDepth {
					return fmt.Errorf("%w: nested deeper than %d at byte %d", errStructure, maxDepth, i-1)
				}
				stack[depth] = due
				depth++
				due = count
			}
			continue
		}
		if skip > left {
			return fmt.Errorf("%w: value at byte %d declares %d bytes, %d remain", errStructure, i-1, skip, left)
		}
		i += int(skip)
	}
	if i != len(b) {
		return fmt.Errorf("%w: %d trailing bytes after the message", errStructure, len(b)-i)
	}
	return nil
}

// readLen reads a big-endian length of size bytes at b[i:].
func readLen(b []byte, i, size int) (uint64, int, error) {
	if len(b)-i < size {
		return 0, i, fmt.Errorf("%w: length at byte %d cut off", errStructure, i)
	}
	switch size {
	case 1:
		return uint64(b[i]), i + 1, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[i:])), i + 2, nil
	default:
		return uint64(binary.BigEndian.Uint32(b[i:])), i + 4, nil
	}
}
