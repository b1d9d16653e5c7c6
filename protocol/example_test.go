package protocol_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/scxvm/scxvm/protocol"
	"github.com/scxvm/scxvm/spec"
)

// The agent says hello, the host checks it and sends a job, the agent
// answers with its result, and the host ends the conversation.
func Example() {
	hostEnd, agentEnd := net.Pipe()
	host, agent := protocol.NewConn(hostEnd), protocol.NewConn(agentEnd)
	defer host.Close()

	go func() { // the agent
		defer agent.Close()
		agent.Send(&protocol.Hello{ProtocolVersion: protocol.Version, Transport: protocol.TransportVirtioSerial})
		for {
			m, err := agent.Recv()
			if err != nil {
				return
			}
			switch m := m.(type) {
			case *protocol.Job:
				agent.Send(&protocol.JobResult{JobID: m.ID, Status: protocol.StatusOK})
			case *protocol.Bye:
				agent.Send(&protocol.Bye{Reason: "powering off"})
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hello, err := host.AcceptHello(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("agent speaks version", hello.ProtocolVersion, "over", hello.Transport)
	host.Send(&protocol.Job{ID: 1, Scenario: spec.Scenario{Name: "steady"}})
	m, _ := host.RecvContext(ctx)
	fmt.Println("job", m.(*protocol.JobResult).JobID, m.(*protocol.JobResult).Status)
	host.Send(&protocol.Bye{})
	m, _ = host.RecvContext(ctx)
	fmt.Println("bye:", m.(*protocol.Bye).Reason)
	// Output:
	// agent speaks version 2 over virtio-serial
	// job 1 ok
	// bye: powering off
}
