// The SQLite driver adapter, with two things the stock one lacks for a server that must survive a
// full disk or a busy database:
// - A transaction whose COMMIT (or ROLLBACK) fails is ended. Prisma's engine calls the adapter's
//   commit() only after its COMMIT statement succeeded, and the adapter releases its transaction
//   lock only in commit()/rollback(); SQLite keeps a transaction open when COMMIT fails with
//   SQLITE_FULL or SQLITE_BUSY. Without this, one failed COMMIT left every later transaction of
//   the process waiting forever.
// - Write-ahead logging: readers (pages, exports, the audit walk, another process) never block the
//   writer's COMMIT, and the writer never blocks them.
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

type Adapter = Awaited<ReturnType<PrismaBetterSQLite3["connect"]>>;
type Transaction = Awaited<ReturnType<Adapter["startTransaction"]>>;
/** The better-sqlite3 handle the stock adapter keeps as `client`. */
type Handle = { inTransaction: boolean; prepare(sql: string): { run(): unknown }; pragma(sql: string): unknown };

const ENDS_TRANSACTION = /^\s*(COMMIT|ROLLBACK|END)\b/i;

function guard(tx: Transaction, handle: Handle): Transaction {
  let open = true;
  const executeRaw = tx.executeRaw.bind(tx);
  const commit = tx.commit.bind(tx);
  const rollback = tx.rollback.bind(tx);
  tx.executeRaw = async (query) => {
    try {
      return await executeRaw(query);
    } catch (e) {
      if (open && ENDS_TRANSACTION.test(query.sql)) {
        open = false;
        if (handle.inTransaction) {
          try {
            handle.prepare("ROLLBACK").run();
          } catch {
            // Already ended by SQLite itself.
          }
        }
        await rollback();
      }
      throw e;
    }
  };
  tx.commit = async () => {
    if (!open) return;
    open = false;
    await commit();
  };
  tx.rollback = async () => {
    if (!open) return;
    open = false;
    await rollback();
  };
  return tx;
}

/** The adapter factory for a SQLite file URL (`file:/abs/path.db`). */
export function sqliteAdapter(url: string): PrismaBetterSQLite3 {
  const factory = new PrismaBetterSQLite3({ url });
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    const handle = (adapter as unknown as { client: Handle }).client;
    if (!url.includes(":memory:")) handle.pragma("journal_mode = WAL");
    const start = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (level) => guard(await start(level), handle);
    return adapter;
  };
  return factory;
}
