package pgtest

// Forget lets go of the cluster without stopping it, as a test binary that
// was killed would: its lock is released and the server keeps running.
func (c *Cluster) Forget() {
	c.db.Close()
	c.lock.Close()
	c.lock = nil
}
