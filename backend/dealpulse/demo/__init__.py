"""The demo's content: the seeded organisation (data/org.json) and a rendered demo mailbox."""
