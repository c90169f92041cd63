package imapd

import (
	"slices"

	"imapd/imapd/wire"
)

// answerESearch sends the ESEARCH response of SEARCH ... RETURN (RFC 4731
// §3.1) and, for SAVE, keeps the result as "$" (RFC 5182 §2.1). Numbers
// are UIDs for UID SEARCH, else sequence numbers; a search that matched
// nothing answers COUNT 0 and no MIN, MAX or ALL. SAVE alone answers
// nothing but the tagged OK (RFC 5182 §2.1's example). With modseq (the
// search used MODSEQ) the response ends with the highest MODSEQ of the
// messages it returns (RFC 7162 §3.1.5).
func (s *session) answerESearch(c *wire.Command, r wire.SearchReturn, view []uint32, matches []bool, modseq bool) {
	var found, nums []uint32 // the UIDs matched; what the client is told
	for i, uid := range view {
		if matches[i] {
			found = append(found, uid)
			if c.UID() {
				nums = append(nums, uid)
			} else {
				nums = append(nums, uint32(i+1))
			}
		}
	}
	if r.Save {
		s.searchRes = savedPart(r, found)
		if !r.Min && !r.Max && !r.All && !r.Count {
			return
		}
	}
	s.w.Untagged().Raw("ESEARCH (TAG ").String(c.Tag).Raw(")")
	if c.UID() {
		s.w.Raw(" UID")
	}
	if len(nums) > 0 {
		if r.Min {
			s.w.Raw(" MIN ").Number(nums[0])
		}
		if r.Max {
			s.w.Raw(" MAX ").Number(nums[len(nums)-1])
		}
		if r.All {
			s.w.Raw(" ALL ").SeqSet(wire.SeqSetOf(nums))
		}
	}
	if r.Count {
		s.w.Raw(" COUNT ").Number(uint32(len(nums)))
	}
	if modseq && len(found) > 0 {
		if m := s.highestModSeqOf(savedPart(r, found)); m != 0 {
			s.w.Raw(" MODSEQ ").Number64(m)
		}
	}
	s.w.CRLF()
}

// savedPart is what SAVE keeps of found: all of it, unless MIN or MAX
// come without ALL or COUNT, when only the messages they name are kept
// (RFC 5182 §2.4).
func savedPart(r wire.SearchReturn, found []uint32) []uint32 {
	if r.All || r.Count || (!r.Min && !r.Max) || len(found) == 0 {
		return found
	}
	var out []uint32
	if r.Min {
		out = append(out, found[0])
	}
	if r.Max && (!r.Min || len(found) > 1) {
		out = append(out, found[len(found)-1])
	}
	return out
}

// resolveSaved is resolveSet for a set holding "$": the messages of the
// last SEARCH ... RETURN (SAVE) still in the view (an expunged one drops
// out, RFC 5182 §2.1), with the numbers set holds besides.
func (s *session) resolveSaved(set wire.SeqSet, uid bool) ([]uint32, error) {
	var out []uint32
	if len(set.Ranges) > 0 {
		var err error
		if out, err = s.resolveSet(wire.SeqSet{Ranges: set.Ranges}, uid); err != nil {
			return nil, err
		}
	}
	for _, u := range s.searchRes {
		if _, ok := slices.BinarySearch(s.sel.view, u); ok {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// inSaved reports whether set holds "$" and the message is in the saved
// result.
func (m *searchMsg) inSaved(set wire.SeqSet) bool {
	if !set.Saved {
		return false
	}
	_, ok := slices.BinarySearch(m.saved, m.uid)
	return ok
}
