package maildir

import "errors"

// Size returns the size of a folder as STATUS=SIZE reports it (RFC 8438):
// the sum of its messages' RFC822.SIZE, exact. A size the sidecar and
// the file name do not give is read once from the file and kept, as
// Mailbox.Size does; a message removed meanwhile does not count.
func (s *Store) Size(name string) (int64, error) {
	_, dir, err := s.dir(name)
	if err != nil {
		return 0, err
	}
	f, err := s.hub.acquire(s.root, dir)
	if err != nil {
		return 0, err
	}
	defer s.hub.release(f)
	var total int64
	var unknown []uint32
	err = f.update(false, func() error {
		for _, r := range f.side.recs {
			if r.vsize > 0 {
				total += r.vsize
			} else {
				unknown = append(unknown, r.uid)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// A handle for reading files only: it is not among the folder's
	// sessions, so it gets no changes and needs no Close.
	reader := &Mailbox{store: s, f: f, name: name, readOnly: true}
	for _, uid := range unknown {
		n, err := reader.Size(uid)
		if errors.Is(err, ErrExpunged) {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
