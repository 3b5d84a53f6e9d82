-- Tamper evidence for the audit log: every event gets a place in a hash chain (seq, prevHash,
-- hash), the chain's end is kept in AuditHead, and each walk over the chain in AuditVerification.
-- channel and version are copied out of the payload so the audit filters can use an index.

-- AlterTable
ALTER TABLE "AuditEvent" ADD COLUMN "channel" TEXT;
ALTER TABLE "AuditEvent" ADD COLUMN "hash" TEXT;
ALTER TABLE "AuditEvent" ADD COLUMN "prevHash" TEXT;
ALTER TABLE "AuditEvent" ADD COLUMN "seq" INTEGER;
ALTER TABLE "AuditEvent" ADD COLUMN "version" TEXT;

-- CreateTable
CREATE TABLE "AuditHead" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "seq" INTEGER NOT NULL DEFAULT 0,
    "hash" TEXT,
    "legacySeq" INTEGER NOT NULL DEFAULT 0
);

-- CreateTable
CREATE TABLE "AuditVerification" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ok" BOOLEAN NOT NULL,
    "events" INTEGER NOT NULL,
    "eventId" INTEGER,
    "seq" INTEGER,
    "problem" TEXT,
    "headSeq" INTEGER,
    "headHash" TEXT,
    "durationMs" INTEGER NOT NULL,
    "requestedBy" TEXT NOT NULL
);

-- CreateIndex
CREATE INDEX "AuditVerification_at_idx" ON "AuditVerification"("at");

-- CreateIndex
CREATE UNIQUE INDEX "AuditEvent_seq_key" ON "AuditEvent"("seq");

-- CreateIndex
CREATE INDEX "AuditEvent_channel_at_idx" ON "AuditEvent"("channel", "at");

-- CreateIndex
CREATE INDEX "AuditEvent_version_at_idx" ON "AuditEvent"("version", "at");

-- Existing events: seq in the order they were written, channel and version from the payload of
-- deployment events. Their hashes need SHA-256, which SQLite lacks: the app computes them once, at
-- first use, with the head locked (lib/audit/chain.ts). Only events up to legacySeq may get one.
DROP TRIGGER "AuditEvent_no_update";

UPDATE "AuditEvent" SET "seq" = (SELECT "n" FROM (SELECT "id", ROW_NUMBER() OVER (ORDER BY "id") AS "n" FROM "AuditEvent") AS "o" WHERE "o"."id" = "AuditEvent"."id");

UPDATE "AuditEvent"
SET "channel" = json_extract("payload", '$.channel'), "version" = json_extract("payload", '$.version')
WHERE "action" LIKE 'deployment.%' AND json_valid("payload");

INSERT INTO "AuditHead" ("id", "seq", "hash", "legacySeq")
SELECT 1, COUNT(*), NULL, COUNT(*) FROM "AuditEvent";

-- Still append-only; the one change allowed is giving an event from before the chain its hash.
CREATE TRIGGER "AuditEvent_no_update" BEFORE UPDATE ON "AuditEvent"
WHEN NOT (
  OLD."hash" IS NULL AND NEW."hash" IS NOT NULL
  AND OLD."seq" IS NOT NULL AND OLD."seq" <= (SELECT "legacySeq" FROM "AuditHead" WHERE "id" = 1)
  AND NEW."id" IS OLD."id" AND NEW."at" IS OLD."at" AND NEW."actorId" IS OLD."actorId"
  AND NEW."actorName" IS OLD."actorName" AND NEW."source" IS OLD."source" AND NEW."action" IS OLD."action"
  AND NEW."target" IS OLD."target" AND NEW."payload" IS OLD."payload" AND NEW."ip" IS OLD."ip"
  AND NEW."userAgent" IS OLD."userAgent" AND NEW."channel" IS OLD."channel" AND NEW."version" IS OLD."version"
  AND NEW."seq" IS OLD."seq"
)
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- The head only moves forward and is never removed.
CREATE TRIGGER "AuditHead_no_delete" BEFORE DELETE ON "AuditHead"
BEGIN
  SELECT RAISE(ABORT, 'the audit chain head cannot be removed');
END;

CREATE TRIGGER "AuditHead_forward" BEFORE UPDATE ON "AuditHead"
WHEN NEW."seq" < OLD."seq" OR NEW."id" IS NOT OLD."id"
BEGIN
  SELECT RAISE(ABORT, 'the audit chain head only moves forward');
END;
