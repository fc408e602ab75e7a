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
import { useLayoutEffect, useReducer, useState } from "preact/hooks";

type Options<Row extends Element> = {
  /** How many rows the list holds. */
  count: number;
  /** A row's stable key, so a measured height stays with its row. */
  key: (index: number) => string;
  /** A row's height in px before it is measured. */
  estimate: number;
  /** Rows drawn beyond each edge of the box. */
  overscan: number;
} & Pick<VirtualizerOptions<HTMLDivElement, Row>, "anchorTo">;

export function useVirtualizer<Row extends Element>(
  scroller: { current: HTMLDivElement | null },
  { count, key, estimate, overscan, ...rest }: Options<Row>,
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
  virtual.setOptions({ ...virtual.options, count, getItemKey: key, ...rest });
  useLayoutEffect(() => virtual._didMount(), []);
  useLayoutEffect(() => virtual._willUpdate());
  return virtual;
}
