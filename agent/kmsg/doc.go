// Package kmsg reads the kernel log from /dev/kmsg and recognises the lines
// sched_ext prints when a BPF scheduler is enabled, disabled or ejected.
//
// /dev/kmsg returns one record per read, formatted
// "PRI,SEQ,TS_USEC,FLAGS[,...];TEXT\n" and optionally followed by
// " KEY=VALUE" dictionary lines. Reader parses that stream from any
// io.Reader, so tests feed it testdata files:
//
//	f, err := kmsg.Open() // /dev/kmsg, from the start of the buffer
//	r := kmsg.NewReader(f)
//	for {
//		rec, err := r.Next()
//		if err != nil { break }
//		if l, ok := ktext.ParseSchedExt(rec.Text); ok && l.Kind == ktext.Disabled {
//			fmt.Println("ejected:", l.Reason)
//		}
//	}
//
// The package reads no environment variables.
package kmsg
