-- AlterTable
ALTER TABLE "Channel" ADD COLUMN "followPausedAt" DATETIME;
ALTER TABLE "Channel" ADD COLUMN "followPausedBy" TEXT;
ALTER TABLE "Channel" ADD COLUMN "freezeReason" TEXT;
ALTER TABLE "Channel" ADD COLUMN "frozenAt" DATETIME;
ALTER TABLE "Channel" ADD COLUMN "frozenBy" TEXT;
ALTER TABLE "Channel" ADD COLUMN "frozenUntil" DATETIME;

-- CreateTable
CREATE TABLE "Bake" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "channelId" INTEGER NOT NULL,
    "version" TEXT NOT NULL,
    "deploymentId" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'baking',
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endsAt" DATETIME NOT NULL,
    "nextCheckAt" DATETIME NOT NULL,
    "checks" INTEGER NOT NULL DEFAULT 0,
    "lastCheckAt" DATETIME,
    "lastResults" TEXT NOT NULL DEFAULT '[]',
    "error" TEXT,
    "finishedAt" DATETIME,
    CONSTRAINT "Bake_channelId_fkey" FOREIGN KEY ("channelId") REFERENCES "Channel" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "Bake_channelId_status_idx" ON "Bake"("channelId", "status");

-- CreateIndex
CREATE INDEX "Bake_status_nextCheckAt_idx" ON "Bake"("status", "nextCheckAt");

