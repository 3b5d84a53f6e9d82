-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN "channels" TEXT;
ALTER TABLE "ApiToken" ADD COLUMN "permissions" TEXT;

-- CreateTable
CREATE TABLE "RefusedAttempt" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "who" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "route" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 0,
    "events" INTEGER NOT NULL DEFAULT 0,
    "windowStart" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "RefusedAttempt_who_address_windowStart_idx" ON "RefusedAttempt"("who", "address", "windowStart");

-- CreateIndex
CREATE INDEX "RefusedAttempt_lastAt_idx" ON "RefusedAttempt"("lastAt");

-- CreateIndex
CREATE UNIQUE INDEX "RefusedAttempt_who_address_route_reason_target_key" ON "RefusedAttempt"("who", "address", "route", "reason", "target");

