-- AlterTable
ALTER TABLE "DeploymentTarget" ADD COLUMN "error" TEXT;
ALTER TABLE "DeploymentTarget" ADD COLUMN "errorKind" TEXT;
ALTER TABLE "DeploymentTarget" ADD COLUMN "reportedVersion" TEXT;

-- CreateTable
CREATE TABLE "HostLock" (
    "hostId" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "deploymentId" INTEGER NOT NULL,
    "acquiredAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "HostLock_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "HostLock_deploymentId_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Deployment" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "kind" TEXT NOT NULL,
    "channelId" INTEGER NOT NULL,
    "version" TEXT NOT NULL,
    "fromVersion" TEXT,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "reason" TEXT NOT NULL,
    "actorId" INTEGER,
    "actorName" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "batchSize" INTEGER NOT NULL,
    "maxFailures" INTEGER NOT NULL,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME,
    "cancelledBy" TEXT,
    "salLine" TEXT NOT NULL DEFAULT '',
    "override" BOOLEAN NOT NULL DEFAULT false,
    "retryOfId" INTEGER,
    "cancelRequestedAt" DATETIME,
    "runnerId" TEXT,
    "leaseUntil" DATETIME,
    CONSTRAINT "Deployment_channelId_fkey" FOREIGN KEY ("channelId") REFERENCES "Channel" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Deployment_actorId_fkey" FOREIGN KEY ("actorId") REFERENCES "User" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Deployment" ("actorId", "actorName", "batchSize", "cancelledBy", "channelId", "createdAt", "error", "finishedAt", "fromVersion", "id", "kind", "maxFailures", "reason", "source", "startedAt", "status", "version") SELECT "actorId", "actorName", "batchSize", "cancelledBy", "channelId", "createdAt", "error", "finishedAt", "fromVersion", "id", "kind", "maxFailures", "reason", "source", "startedAt", "status", "version" FROM "Deployment";
DROP TABLE "Deployment";
ALTER TABLE "new_Deployment" RENAME TO "Deployment";
CREATE INDEX "Deployment_channelId_createdAt_idx" ON "Deployment"("channelId", "createdAt");
CREATE INDEX "Deployment_status_idx" ON "Deployment"("status");
CREATE INDEX "Deployment_createdAt_idx" ON "Deployment"("createdAt");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "HostLock_deploymentId_idx" ON "HostLock"("deploymentId");

