package s3server

import (
	"fmt"
	"os"
	"path/filepath"
)

// Kind is an S3 server implementation: how to find its binary and how to
// run it on the loopback ports and the data directory of a Server.
type Kind struct {
	// Name names the server in errors, data directories and test names:
	// "minio", "versitygw", "versitygw-nometa".
	Name string
	// EnvBinary names the environment variable that overrides the path of
	// the binary.
	EnvBinary string
	// binary is the binary's file name under tools/bin.
	binary string
	// ports is the number of loopback ports it listens on; the first is
	// the S3 API.
	ports int
	// command returns the arguments and the extra environment that run
	// the server of s.
	command func(s *Server) (args, env []string)
}

// The server kinds. make test runs the S3 tests against each of Kinds.
var (
	// MinIO is the MinIO server (AGPL: run, never imported), on a single-drive
	// data directory.
	MinIO = &Kind{
		Name:      "minio",
		EnvBinary: "STATED_MINIO_BIN",
		binary:    "minio",
		ports:     2, // the API and the console
		command: func(s *Server) ([]string, []string) {
			return []string{"server", filepath.Join(s.dataDir, "data"),
					"--address", s.addrs[0], "--console-address", s.addrs[1],
					"--certs-dir", filepath.Join(s.dataDir, "certs"), "--quiet"},
				[]string{
					"MINIO_ROOT_USER=" + s.AccessKey,
					"MINIO_ROOT_PASSWORD=" + s.SecretKey,
					"MINIO_BROWSER=off",
					"MINIO_UPDATE=off",
					"MINIO_CI_CD=on", // allow a data directory on the root disk
					"HOME=" + s.dataDir,
				}
		},
	}
	// VersityGW is the Versity S3 gateway on its posix backend (objects are
	// files under the data directory, metadata in extended attributes).
	VersityGW = versityGW("versitygw")
	// VersityGWNoMeta is the Versity S3 gateway on its posix backend with
	// --nometa: it stores no metadata, so it ignores If-None-Match (a
	// second conditional PUT replaces the object). Tests use it to show
	// that such a server is refused.
	VersityGWNoMeta = versityGW("versitygw-nometa", "--nometa")
)

// Kinds are the servers that the S3 tests run against.
var Kinds = []*Kind{MinIO, VersityGW}

func versityGW(name string, posixFlags ...string) *Kind {
	return &Kind{
		Name:      name,
		EnvBinary: "STATED_VERSITYGW_BIN",
		binary:    "versitygw",
		ports:     1,
		command: func(s *Server) ([]string, []string) {
			root := filepath.Join(s.dataDir, "data")
			os.MkdirAll(root, 0o755) // the posix backend wants its root to exist; a failure shows in its output
			args := []string{"--port", s.addrs[0], "--access", s.AccessKey, "--secret", s.SecretKey,
				"--region", "us-east-1", "--quiet", "posix"}
			args = append(append(args, posixFlags...), root)
			return args, []string{"HOME=" + s.dataDir}
		},
	}
}

// String returns the kind's name.
func (k *Kind) String() string { return k.Name }

// BinaryPath returns the path of the kind's binary: $<EnvBinary> if set,
// else tools/bin/<binary> in the repository that holds the working
// directory (found by walking up to go.mod). The error says how to
// install the binary.
func (k *Kind) BinaryPath() (string, error) {
	hint := fmt.Sprintf("run `make tools` (or `make test`, which installs it) to install the pinned %s server into tools/bin, or set %s", k.binary, k.EnvBinary)
	if p := os.Getenv(k.EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v; %s", k.EnvBinary, p, err, hint)
		}
		return p, nil
	}
	p, err := findRepoFile("tools/bin/" + k.binary)
	if err != nil {
		return "", fmt.Errorf("%v; %s", err, hint)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("server binary %s not found; %s", p, hint)
	}
	return p, nil
}
