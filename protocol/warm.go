package protocol

import (
	"hash"
	"hash/crc32"
	"time"
)

// Warm start messages. A guest whose state the host saves (a snapshot) or
// restored from one gets what differs per run over the channel instead of
// in its image:
//
//	host                           agent
//	Park                      ->             (snapshot only, after the Hello)
//	                          <-   Parked    (idle, sends nothing more)
//	... the host saves the VM state, or a later run restores it ...
//	PutFile (0..n, chunked)   ->             (scheduler binaries, libraries, extra files)
//	Resume                    ->             (wall clock, entropy, file count)
//	                          <-   Hello     (the handshake of this run)
//
// A run that neither saves nor restores sends PutFile and Resume too, after
// the agent's first Hello, so the files reach the guest the same way in
// every mode.
//
// The channel of a restored guest: a virtio-serial port survives the
// restore (the host connects a new socket to it). A vsock connection does
// not: the restore gives the guest a new CID and resets its connections.
// So over vsock the agent listens on VsockAgentPort before it sends
// Parked; when its channel breaks while parked, it accepts the host's new
// connection there and sends Parked again on it, which tells the host that
// the agent is on the other end; PutFile and Resume follow on the new
// connection. A Resume on the old channel (the run that saved goes on)
// closes the listener.

// PutFileChunk bounds the Data of one PutFile message.
const PutFileChunk = 1 << 20

// Park asks the agent to reach a quiet point for a snapshot: its session
// runs, and it sends nothing after its Parked until a Resume (kernel log
// batches wait), so that no message is cut by the save or lost in it.
type Park struct {
	Reason string `msgpack:"reason,omitempty" json:"reason,omitempty"`
}

// Parked answers Park: the agent is idle and silent until Resume. Over
// vsock it also opens a connection the host made to a parked agent after
// a restore.
type Parked struct {
	// At is the time since the agent started.
	At time.Duration `msgpack:"at" json:"at"`
}

// PutFile is one chunk of a file (or a symbolic link) the host puts into
// the guest's root file system (the in-memory rootfs the image unpacked
// into). The chunks of a file come in order, Offset 0 first; the last one
// has Last set and CRC32C, the CRC-32C of the whole contents (NewFileHash),
// which the agent checks before it renames the file into place. Every
// frame has its own CRC-32C too; the file's catches what the assembly
// gets wrong. (A SHA-256 cost a quarter of the transfer time under TCG:
// 10 MB arrived in 1.72 s with it, 1.32-1.38 s without.)
type PutFile struct {
	// Path is the absolute guest path; parents are created.
	Path string `msgpack:"path" json:"path"`
	// Mode holds the permission bits.
	Mode uint32 `msgpack:"mode" json:"mode"`
	// Link, when set, makes Path a symbolic link to Link (one message,
	// no data).
	Link string `msgpack:"link,omitempty" json:"link,omitempty"`
	// Size is the file's whole size.
	Size   int64  `msgpack:"size" json:"size"`
	Offset int64  `msgpack:"offset" json:"offset"`
	Data   []byte `msgpack:"data,omitempty" json:"data,omitempty"`
	Last   bool   `msgpack:"last,omitempty" json:"last,omitempty"`
	CRC32C uint32 `msgpack:"crc32c,omitempty" json:"crc32c,omitempty"`
}

// Resume ends the per-run setup: the agent sets its wall clock, adds
// Entropy to the kernel's pool and reseeds it (a restored guest would
// otherwise repeat the random state of the snapshot), checks that Files
// files arrived whole, and answers with a fresh Hello, or with a fatal
// Error when a file did not arrive.
type Resume struct {
	// WallClock is the host's time when it sent Resume.
	WallClock time.Time `msgpack:"wall_clock" json:"wall_clock"`
	// Entropy is fresh randomness for the guest's pool.
	Entropy []byte `msgpack:"entropy,omitempty" json:"entropy,omitempty"`
	// Files is how many PutFile files (links included) came before.
	Files int `msgpack:"files" json:"files"`
	// Restored tells the agent its machine was restored from a snapshot.
	Restored bool `msgpack:"restored,omitempty" json:"restored,omitempty"`
}

// MessageType implements Message.
func (*Park) MessageType() Type { return TypePark }

// MessageType implements Message.
func (*Parked) MessageType() Type { return TypeParked }

// MessageType implements Message.
func (*PutFile) MessageType() Type { return TypePutFile }

// MessageType implements Message.
func (*Resume) MessageType() Type { return TypeResume }

// NewFileHash returns the hash of PutFile.CRC32C.
func NewFileHash() hash.Hash32 { return crc32.New(castagnoli) }
