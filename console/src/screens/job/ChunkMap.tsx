// One cell per chunk, coloured by its status from the one status table: thousands fit on a
// screen. One cell takes the Tab key (arrows move between cells); a click lists its records.
import { navigate, route, withParams } from "../../stores/route";
import { chunks, chunksCut, chunksState, CHUNK_MAP_LIMIT, selectedChunk } from "../../stores/job";
import { formatCount } from "../../utilities/format";
import { CHUNK_STATUSES, type ChunkStatus } from "../../utilities/statuses";

function select(index: number) {
  navigate(route.value.path, withParams({ chunk: String(index), records: null }), true);
}

function move(event: KeyboardEvent) {
  const steps: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  const step = steps[event.key];
  const cell = event.target as HTMLElement;
  if (!step || !cell.classList.contains("chunk")) return;
  const next = (step > 0 ? cell.nextElementSibling : cell.previousElementSibling) as HTMLElement | null;
  if (!next) return;
  event.preventDefault();
  cell.tabIndex = -1;
  next.tabIndex = 0;
  next.focus();
}

export function ChunkMap() {
  const cells = chunks.value;
  const selected = selectedChunk.value;
  const focusable = selected ?? cells[0]?.index;
  const counts = new Map<ChunkStatus, number>();
  for (const cell of cells) counts.set(cell.status, (counts.get(cell.status) ?? 0) + 1);
  return (
    <section class="card chunk-card" aria-labelledby="chunks-title">
      <div class="card-head">
        <h2 id="chunks-title">Chunks</h2>
        <span class="count">
          {chunksState.value === "loading" && cells.length === 0 ? "Loading…" : `${formatCount(cells.length)} chunks`}
        </span>
      </div>
      {chunksState.value === "ready" && cells.length === 0 && <p class="empty">No chunks yet.</p>}
      <div class="chunk-map" role="group" aria-label="Chunk map" onKeyDown={move}>
        {cells.map((cell) => {
          const look = CHUNK_STATUSES[cell.status];
          const progress = `${formatCount(cell.progress.done)} of ${cell.progress.total === null ? "?" : formatCount(cell.progress.total)} records`;
          return (
            <button
              key={cell.index}
              type="button"
              class={`chunk chunk-${cell.status} tone-${look.tone}`}
              aria-label={`Chunk ${cell.index}: ${look.label}`}
              aria-pressed={selected === cell.index}
              title={`Chunk ${cell.index}: ${look.label}, ${progress}`}
              tabIndex={cell.index === focusable ? 0 : -1}
              onClick={() => select(cell.index)}
            />
          );
        })}
      </div>
      {chunksCut.value && <p class="hint">The map shows the first {formatCount(CHUNK_MAP_LIMIT)} chunks.</p>}
      <ul class="legend" aria-label="Chunks by status">
        {[...counts].map(([status, count]) => (
          <li key={status}>
            <span class={`legend-swatch chunk-${status} tone-${CHUNK_STATUSES[status].tone}`} aria-hidden="true" />
            {CHUNK_STATUSES[status].label} {formatCount(count)}
          </li>
        ))}
      </ul>
    </section>
  );
}
