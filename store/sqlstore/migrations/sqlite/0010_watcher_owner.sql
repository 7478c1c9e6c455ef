-- Several nodes on one database (package cluster): each subscription of
-- active_watchers belongs to the node that accepted it, which alone
-- reloads, expires and deletes it and sends its NOTIFYs. The owner is
-- OpenSIPS's own column for this, sharing_tag (presence clustering: the
-- node holding the tag handles the subscription); in Palio a node's tag
-- is its node name (presence.Config.Node), NULL for a single node.

ALTER TABLE active_watchers ADD COLUMN sharing_tag VARCHAR(32) DEFAULT NULL
;
CREATE INDEX IF NOT EXISTS active_watchers_sharing ON active_watchers (sharing_tag)
;
