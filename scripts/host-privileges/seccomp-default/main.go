// Prints, as OCI runtime-spec JSON, the seccomp profile containerd applies as RuntimeDefault to
// a container whose bounding capabilities are the arguments (containerd lets some system calls
// through only with a capability: setns needs CAP_SYS_ADMIN). scripts/host-privileges.ts runs
// its containers with exactly this profile.
package main

import (
	"encoding/json"
	"os"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func main() {
	caps := os.Args[1:]
	sp := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p := seccomp.DefaultProfile(sp)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	_ = enc.Encode(p)
}
