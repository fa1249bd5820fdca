package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newPsCmd) }

func newPsCmd() *cobra.Command {
	var format, storeRoot string
	var all bool
	c := runtimeCmd(&cobra.Command{
		Use:   "ps [flags] [ID]",
		Short: "List containers made by lamina run, or the processes in one container",
		Long: `ps has two forms.

Without ID, as docker's ps: list the containers made by "lamina run IMAGE"
(with or without -d), newest first: ID (in the store), NAME, IMAGE,
COMMAND, CREATED and STATUS ("Up 3 minutes", "Created", "Exited (0) 2
seconds ago"; "Exited (unknown)" when no lamina process saw it exit).
Only created and running ones are listed unless -a. --format json prints
one JSON array of objects (id, name, image, command, created, state:
created|running|exited, pid, exit: {code, at}).

With ID, as runc's ps: list the processes in that container's cgroup,
with their host pids. The json format prints the pids as one JSON array,
as runc does (containerd calls "ps --format json ID"); the table format
prints each pid with its command line.`,
		Example: `  lamina ps                  # running containers made by lamina run
  lamina ps -a --format json # all of them, as JSON
  lamina ps web              # the processes in container web
  lamina ps --format json web`,
		Args: cobra.MaximumNArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		if format != "table" && format != "json" {
			return fmt.Errorf("--format: unknown format %q (want table or json)", format)
		}
		if len(args) == 0 {
			return listContainers(cmd.OutOrStdout(), rt, storeRoot, all, format)
		}
		if all {
			return errors.New("--all: lists containers; it does not apply to ps ID")
		}
		pids, err := rt.Pids(args[0])
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(out).Encode(pids)
		}
		w := tabwriter.NewWriter(out, 0, 8, 1, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, pid := range pids {
			cmdline, err := processCommand(pid)
			if errors.Is(err, fs.ErrNotExist) {
				continue // exited since the cgroup was read
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%d\t%s\n", pid, cmdline)
		}
		return w.Flush()
	})
	c.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	c.Flags().BoolVarP(&all, "all", "a", false, "without ID: also list stopped containers")
	c.Flags().StringVar(&storeRoot, "store", store.DefaultRoot(), "without ID: image store directory")
	return c
}

// processCommand returns the command line of pid from /proc/PID/cmdline,
// its arguments separated by spaces, or "[comm]" as ps shows it for a
// process without one (a zombie, or one that cleared its arguments).
func processCommand(pid int) (string, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return "", fmt.Errorf("read command line of %d: %w", pid, err)
	}
	if b = bytes.TrimRight(b, "\x00"); len(b) > 0 {
		return strings.ReplaceAll(string(b), "\x00", " "), nil
	}
	comm, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return "", fmt.Errorf("read command name of %d: %w", pid, err)
	}
	return "[" + strings.TrimSpace(string(comm)) + "]", nil
}
