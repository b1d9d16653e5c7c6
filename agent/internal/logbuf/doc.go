// Package logbuf holds HeadTail, a bounded buffer for process output that
// keeps its beginning and its end. The agent captures scheduler loaders'
// and payload commands' output with it.
//
// The package reads no environment variables.
package logbuf
