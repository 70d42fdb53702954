// cnitool: a small CNI runtime on Debian's libcni (golang-github-appc-cni-dev 1.1.2), for berth's
// end-to-end tests and bench/cni. Same environment as upstream cnitool: NETCONFPATH, CNI_PATH,
// CNI_IFNAME, CNI_ARGS, CAP_ARGS (runtimeConfig capabilities, JSON), plus CNI_CACHE_DIR and
// CNI_CONTAINERID (default: derived from the netns path, as upstream does).
//
//	cnitool add|check|del NETWORK NETNS     one call; ADD prints the result JSON
//	cnitool timed add|del NETWORK NETNS...  one call per netns, one line "OP NETNS MILLISECONDS" each;
//	                                        with CNITOOL_PORT_BASE=P, the k-th netns (from 0) publishes
//	                                        host port P+k to 8080/tcp (portMappings), as bench/cni does
//
// libcni 1.1.2 predates CNI spec 1.1.0 (its newest result type is 1.0.0, whose shape 1.1.0 keeps).
// A 1.1.0 conflist is run as libcni can: libcni sees "1.0.0", and this tool's exec layer puts
// "1.1.0" on the wire to every plugin (a plugin that does not speak it refuses, as it would under a
// newer libcni) and reads each 1.1.0 answer back as 1.0.0.
package main

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

const wireVersion = "1.1.0"

// wireExec is libcni's default exec, plus the 1.1.0 wire translation described above.
type wireExec struct {
	invoke.DefaultExec
	enabled bool
}

func setVersion(data []byte, from, to string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	var v string
	if raw, ok := m["cniVersion"]; !ok || json.Unmarshal(raw, &v) != nil || v != from {
		return data, nil
	}
	m["cniVersion"], _ = json.Marshal(to)
	return json.Marshal(m)
}

func (e *wireExec) ExecPlugin(ctx context.Context, plugin string, stdin []byte, environ []string) ([]byte, error) {
	if !e.enabled {
		return e.DefaultExec.ExecPlugin(ctx, plugin, stdin, environ)
	}
	in, err := setVersion(stdin, "1.0.0", wireVersion)
	if err != nil {
		return nil, err
	}
	out, err := e.DefaultExec.ExecPlugin(ctx, plugin, in, environ)
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return out, err
	}
	return setVersion(out, wireVersion, "1.0.0")
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// loadList reads NETWORK's conflist; a 1.1.0 one is handed to libcni as 1.0.0 (see above).
func loadList(dir, name string) (*libcni.NetworkConfigList, bool, error) {
	list, err := libcni.LoadConfList(dir, name)
	if err != nil {
		return nil, false, err
	}
	if list.CNIVersion != wireVersion {
		return list, false, nil
	}
	raw, err := setVersion(list.Bytes, wireVersion, "1.0.0")
	if err != nil {
		return nil, false, err
	}
	list, err = libcni.ConfListFromBytes(raw)
	return list, true, err
}

func runtimeConf(netns string) (*libcni.RuntimeConf, error) {
	sum := sha512.Sum512([]byte(netns))
	rt := &libcni.RuntimeConf{
		ContainerID: env("CNI_CONTAINERID", fmt.Sprintf("%x", sum)[:64]),
		NetNS:       netns,
		IfName:      env("CNI_IFNAME", "eth0"),
	}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.SplitN(pair, "=", 2)
			if len(kv) != 2 {
				return nil, fmt.Errorf("invalid CNI_ARGS pair %q: expected KEY=VALUE", pair)
			}
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			return nil, fmt.Errorf("invalid CAP_ARGS: %w", err)
		}
	}
	return rt, nil
}

func call(ctx context.Context, cni *libcni.CNIConfig, list *libcni.NetworkConfigList, op, netns string, k int) error {
	rt, err := runtimeConf(netns)
	if err != nil {
		return err
	}
	if base := os.Getenv("CNITOOL_PORT_BASE"); base != "" {
		var port int
		if _, err := fmt.Sscan(base, &port); err != nil || port < 1 || port+k > 65535 {
			return fmt.Errorf("invalid CNITOOL_PORT_BASE %q: expected a port that leaves room for every netns", base)
		}
		if rt.CapabilityArgs == nil {
			rt.CapabilityArgs = map[string]interface{}{}
		}
		rt.CapabilityArgs["portMappings"] = []map[string]interface{}{{"hostPort": port + k, "containerPort": 8080, "protocol": "tcp"}}
	}
	switch op {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		if os.Getenv("CNITOOL_QUIET") == "" {
			return result.Print()
		}
		return nil
	case "check":
		return cni.CheckNetworkList(ctx, list, rt)
	case "del":
		return cni.DelNetworkList(ctx, list, rt)
	}
	return fmt.Errorf("unknown command %q: expected add, check or del", op)
}

func main() {
	usage := "usage: cnitool add|check|del NETWORK NETNS | cnitool timed add|del NETWORK NETNS..."
	args := os.Args[1:]
	timed := len(args) > 0 && args[0] == "timed"
	if timed {
		args = args[1:]
	}
	if len(args) < 3 || (!timed && len(args) != 3) {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	op, name, targets := args[0], args[1], args[2:]
	list, translate, err := loadList(env("NETCONFPATH", "/etc/cni/net.d"), name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cnitool: network %q: %v\n", name, err)
		os.Exit(1)
	}
	exec := &wireExec{DefaultExec: invoke.DefaultExec{RawExec: &invoke.RawExec{Stderr: os.Stderr}}, enabled: translate}
	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), env("CNI_CACHE_DIR", ""), exec)
	ctx := context.Background()
	if timed {
		os.Setenv("CNITOOL_QUIET", "1")
	}
	for k, netns := range targets {
		start := time.Now()
		if err := call(ctx, cni, list, op, netns, k); err != nil {
			fmt.Fprintf(os.Stderr, "cnitool: %s %s: %v\n", op, netns, err)
			os.Exit(1)
		}
		if timed {
			fmt.Printf("%s %s %.3f\n", op, netns, float64(time.Since(start).Microseconds())/1000)
		}
	}
}
