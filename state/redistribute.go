package state

import (
	"slices"

	"github.com/stated-io/stated/snapshot"
)

// RedistributeOperatorState assigns the operator state of the old subtasks
// (old[i] is what old subtask i wrote) to newParallelism new subtasks,
// returning what each new subtask restores:
//
//   - ModeSplit: the elements of all old subtasks, in old subtask order,
//     are cut into contiguous slices; each new subtask gets total/newP
//     elements and total%newP of them get one more. The subtasks that get
//     one more rotate from state to state (states taken in name order), so
//     remainders spread instead of piling on subtask 0.
//   - ModeUnion: every new subtask gets every element of every old subtask.
//   - ModeBroadcast: new subtask i gets old subtask (i mod oldP)'s elements.
//
// States are returned in name order. Element slices are shared with old.
func RedistributeOperatorState(old [][]snapshot.OperatorStateData, newParallelism int) [][]snapshot.OperatorStateData {
	type merged struct {
		meta   snapshot.OperatorStateData
		perOld [][][]byte
		all    [][]byte
	}
	byName := map[string]*merged{}
	var names []string
	for i, states := range old {
		for _, st := range states {
			m := byName[st.Name]
			if m == nil {
				m = &merged{meta: snapshot.OperatorStateData{Name: st.Name, Mode: st.Mode, Serializers: st.Serializers}, perOld: make([][][]byte, len(old))}
				byName[st.Name] = m
				names = append(names, st.Name)
			}
			m.perOld[i] = append(m.perOld[i], st.Elements...)
			m.all = append(m.all, st.Elements...)
		}
	}
	slices.Sort(names)

	out := make([][]snapshot.OperatorStateData, newParallelism)
	start := 0 // first subtask to visit for the next split state
	for _, name := range names {
		m := byName[name]
		for i := range newParallelism {
			out[i] = append(out[i], snapshot.OperatorStateData{Name: m.meta.Name, Mode: m.meta.Mode, Serializers: m.meta.Serializers})
		}
		last := len(out[0]) - 1
		switch m.meta.Mode {
		case snapshot.ModeUnion:
			for i := range newParallelism {
				out[i][last].Elements = m.all
			}
		case snapshot.ModeBroadcast:
			for i := range newParallelism {
				out[i][last].Elements = m.perOld[i%len(old)]
			}
		default: // ModeSplit
			total := len(m.all)
			base, rem := total/newParallelism, total%newParallelism
			off := 0
			for v := range newParallelism {
				i := (start + v) % newParallelism
				n := base
				if v < rem {
					n++
				}
				out[i][last].Elements = m.all[off : off+n : off+n]
				off += n
			}
			start = (start + rem) % newParallelism
		}
	}
	return out
}
