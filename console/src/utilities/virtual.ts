// A virtualizer (@tanstack/virtual-core) over a scroll box, as a hook: only the rows in view,
// and a few either side, are drawn, and the list redraws whenever those rows change.
import {
  Virtualizer,
  elementScroll,
  measureElement,
  observeElementOffset,
  observeElementRect,
  type VirtualizerOptions,
} from "@tanstack/virtual-core";
import { useLayoutEffect, useMemo, useReducer, useState } from "preact/hooks";

type Options<Item, Row extends Element> = {
  /** What the list holds, in order. */
  items: readonly Item[];
  /** An item's stable key, so a measured height stays with its row. */
  key: (item: Item) => string;
  /** A row's height in px before it is measured. */
  estimate: number;
  /** Rows drawn beyond each edge of the box. */
  overscan: number;
} & Pick<VirtualizerOptions<HTMLDivElement, Row>, "anchorTo">;

export function useVirtualizer<Item, Row extends Element>(
  scroller: { current: HTMLDivElement | null },
  { items, key, estimate, overscan, ...rest }: Options<Item, Row>,
): Virtualizer<HTMLDivElement, Row> {
  const [, redraw] = useReducer((drawn: number) => drawn + 1, 0);
  const [virtual] = useState(
    () =>
      new Virtualizer<HTMLDivElement, Row>({
        count: 0,
        getScrollElement: () => scroller.current,
        estimateSize: () => estimate,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        measureElement,
        overscan,
        onChange: () => redraw(0),
      }),
  );
  // A new key function makes the virtualizer lay out every row again, all 10,000 of them: it
  // changes only with the items, not at every redraw while scrolling.
  const getItemKey = useMemo(() => (index: number) => key(items[index]!), [items]);
  virtual.setOptions({ ...virtual.options, count: items.length, getItemKey, ...rest });
  useLayoutEffect(() => virtual._didMount(), []);
  useLayoutEffect(() => virtual._willUpdate());
  return virtual;
}
