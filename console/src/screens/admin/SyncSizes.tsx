// The Sync Size of each job type: the chunk size the tenant's jobs of the type start with when
// startJob names none, chosen among the sizes the type allows (its default marked).
import { useState } from "preact/hooks";
import { setSyncSize, syncTypes, type SyncSizeType } from "../../stores/admin";
import { formatCount } from "../../utilities/format";

export function SyncSizes() {
  return (
    <section class="card" aria-labelledby="sync-title">
      <div class="card-head">
        <h2 id="sync-title">Sync Size</h2>
      </div>
      <p class="hint">
        How many records one chunk of a new job holds, when the job names no chunk size: smaller chunks resume and
        spread across workers sooner, bigger ones cost less each. Jobs already started keep theirs.
      </p>
      <ul class="sync-sizes" aria-labelledby="sync-title">
        {syncTypes.value.map((type) => (
          <SyncSizeRow key={type.name} type={type} />
        ))}
      </ul>
    </section>
  );
}

function SyncSizeRow({ type }: { type: SyncSizeType }) {
  const [chosen, setChosen] = useState(type.syncSize);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [said, setSaid] = useState<string | null>(null);
  const id = `sync-${type.name}`;

  async function save(event: Event) {
    event.preventDefault();
    setBusy(true);
    setSaid(null);
    // The default is no choice of the tenant's: it follows the type's default if that changes.
    const refused = await setSyncSize(type.name, chosen === type.defaultChunkSize ? null : chosen);
    setBusy(false);
    setError(refused);
    if (!refused) setSaid(`New ${type.label} jobs start with chunks of ${formatCount(chosen)} records.`);
  }

  return (
    <li class="sync-size">
      <form class="sync-size-form" onSubmit={save} aria-label={`Sync Size of ${type.label}`}>
        <label for={id} class="sync-size-label">
          <span class="visually-hidden">Sync Size for </span>
          {type.label}
        </label>
        <code class="sync-size-type">{type.name}</code>
        <select id={id} value={String(chosen)} onChange={(event) => setChosen(Number(event.currentTarget.value))}>
          {type.allowedChunkSizes.map((size) => (
            <option key={size} value={String(size)}>
              {formatCount(size)}
              {size === type.defaultChunkSize ? " (default)" : ""}
            </option>
          ))}
        </select>
        <button type="submit" aria-busy={busy || undefined} disabled={busy || chosen === type.syncSize}>
          Save
        </button>
      </form>
      {error && (
        <p class="notice notice-danger" role="alert">
          {error}
        </p>
      )}
      <p class="action-said" role="status">
        {said}
      </p>
    </li>
  );
}
