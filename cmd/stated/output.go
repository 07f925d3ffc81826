package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// The JSON of every command has one style: snake_case keys, enums as
// their names ("complete", "checkpoint", "zstd"), times in RFC 3339 in UTC,
// sizes in bytes, paths whole (absolute paths or URLs).

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeList writes rows as a JSON array (never null) with asJSON, else as
// table does, or the line none when there are no rows.
func writeList[T any](w io.Writer, asJSON bool, rows []T, none string, table func(io.Writer, []T) error) error {
	switch {
	case asJSON:
		if rows == nil {
			rows = []T{}
		}
		return writeJSON(w, rows)
	case len(rows) == 0:
		_, err := fmt.Fprintln(w, none)
		return err
	}
	return table(w, rows)
}

// writeTable writes a header and rows of cells in aligned columns, then
// the notes (the reasons of bad rows), one a line.
func writeTable(w io.Writer, header []string, rows [][]string, notes []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// utc returns t in UTC for JSON, or nil for the zero time.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// timeText formats a time for a table: RFC 3339 in UTC, "-" for none.
func timeText(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// bytesText formats a size for a table.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
