// The job's children as a tree: each with its own progress; a child with children of its own
// opens to show them. The roll-up over the whole subtree sits on top.
import { useState } from "preact/hooks";
import { Link } from "../../components/Link";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusLabel } from "../../components/StatusLabel";
import { children, childrenOf, childrenTotal, type ChildJob, type JobDetail } from "../../stores/job";
import { formatCount } from "../../utilities/format";
import { JOB_OUTCOMES, JOB_STATUSES } from "../../utilities/statuses";

export function ChildrenTree({ job }: { job: JobDetail }) {
  const total = childrenTotal.value;
  if (total === 0) return null;
  return (
    <section class="card" aria-labelledby="children-title">
      <div class="card-head">
        <h2 id="children-title">Children</h2>
        <span class="count">{formatCount(total)} direct</span>
      </div>
      <div class="rollup">
        <ProgressBar progress={job.childrenProgress} label="Progress of all descendants" />
      </div>
      <ul class="tree" role="tree" aria-labelledby="children-title">
        {children.value.map((child) => (
          <ChildItem key={child.id} child={child} />
        ))}
      </ul>
      {total > children.value.length && (
        <p class="hint">Showing the first {formatCount(children.value.length)} children.</p>
      )}
    </section>
  );
}

function ChildItem({ child }: { child: ChildJob }) {
  const [open, setOpen] = useState(false);
  const [grandchildren, setGrandchildren] = useState<ChildJob[] | null>(null);
  const has = child.children.totalCount > 0;
  async function toggle() {
    if (!open && grandchildren === null) setGrandchildren(await childrenOf(child.id));
    setOpen(!open);
  }
  return (
    <li role="treeitem" aria-expanded={has ? open : undefined} aria-label={child.name}>
      <div class="tree-row">
        {has ? (
          <button type="button" class="quiet disclosure" aria-label={`${open ? "Hide" : "Show"} children of ${child.name}`} onClick={() => void toggle()}>
            {open ? "▾" : "▸"}
          </button>
        ) : (
          <span class="disclosure" aria-hidden="true" />
        )}
        <Link href={`/jobs/${child.id}`} class="tree-name">
          {child.name}
        </Link>
        <StatusLabel look={JOB_STATUSES[child.status]} />
        {child.outcome && <StatusLabel look={JOB_OUTCOMES[child.outcome]} class={`outcome outcome-${child.outcome}`} />}
        <ProgressBar progress={child.progress} label={`Progress of ${child.name}`} />
      </div>
      {open && grandchildren && (
        <ul role="group" class="tree">
          {grandchildren.map((grandchild) => (
            <ChildItem key={grandchild.id} child={grandchild} />
          ))}
        </ul>
      )}
    </li>
  );
}
