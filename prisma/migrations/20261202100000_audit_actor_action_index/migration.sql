-- The audit list filtered by actor and action together: one index seek, then the page in (at, id)
-- order, instead of walking every event of the action (or of the actor) and checking the other.
CREATE INDEX "AuditEvent_actorName_action_at_idx" ON "AuditEvent"("actorName", "action", "at");
