// The type tests/grafana/check-dashboard.sh checks each dashboard against: Grafana's classic
// (schemaVersion-numbered, not v2) dashboard schema as generated from its CUE into
// @grafana/schema, with each core panel's options checked against that panel's own schema.
//
// - Base: the CUE-generated `Dashboard` (raw/dashboard/x/types.gen), not the root veneer
//   `Dashboard`, whose panels are `Panel | RowPanel` with `type: string`: that union cannot be
//   told apart by `type`, so a row's stray keys and a misspelt panel type pass.
// - Panels: a union keyed by `type`, one member per core panel plugin whose options the package
//   ships (panelcfg types). `options` and `fieldConfig.defaults.custom` are checked against that
//   plugin's `Options` and `FieldConfig`, made deep-partial: Grafana fills in omitted options
//   with their defaults, and the generated types mark fields that have a default as required.
//   A panel type not listed here is refused; add it here with its schema to allow it.
// - Targets: the package's common `DataQuery` (refId, hide, queryType, datasource), open to the
//   data source's own keys: the package has no Prometheus query schema.
// - JSON has no enums: each enum of the schema is checked as the union of its values
//   (`ThresholdsMode` as "absolute" | "percentage", `DashboardCursorSync` as 0 | 1 | 2).
//
// The `@ts-expect-error` canaries at the end make tsc fail if these types ever get loose enough
// to accept what they must refuse (for example an import that stops resolving and turns into `any`).
import type { DataQuery } from '@grafana/schema';
import type * as raw from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';
import type * as annolist from '@grafana/schema/dist/esm/raw/composable/annotationslist/panelcfg/x/AnnotationsListPanelCfg_types.gen';
import type * as barchart from '@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen';
import type * as bargauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';
import type * as candlestick from '@grafana/schema/dist/esm/raw/composable/candlestick/panelcfg/x/CandlestickPanelCfg_types.gen';
import type * as canvas from '@grafana/schema/dist/esm/raw/composable/canvas/panelcfg/x/CanvasPanelCfg_types.gen';
import type * as dashlist from '@grafana/schema/dist/esm/raw/composable/dashboardlist/panelcfg/x/DashboardListPanelCfg_types.gen';
import type * as gauge from '@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen';
import type * as geomap from '@grafana/schema/dist/esm/raw/composable/geomap/panelcfg/x/GeomapPanelCfg_types.gen';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as histogram from '@grafana/schema/dist/esm/raw/composable/histogram/panelcfg/x/HistogramPanelCfg_types.gen';
import type * as logs from '@grafana/schema/dist/esm/raw/composable/logs/panelcfg/x/LogsPanelCfg_types.gen';
import type * as news from '@grafana/schema/dist/esm/raw/composable/news/panelcfg/x/NewsPanelCfg_types.gen';
import type * as nodegraph from '@grafana/schema/dist/esm/raw/composable/nodegraph/panelcfg/x/NodeGraphPanelCfg_types.gen';
import type * as piechart from '@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as statushistory from '@grafana/schema/dist/esm/raw/composable/statushistory/panelcfg/x/StatusHistoryPanelCfg_types.gen';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as text from '@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import type * as trend from '@grafana/schema/dist/esm/raw/composable/trend/panelcfg/x/TrendPanelCfg_types.gen';
import type * as xychart from '@grafana/schema/dist/esm/raw/composable/xychart/panelcfg/x/XYChartPanelCfg_types.gen';

type IsAny<T> = 0 extends 1 & T ? true : false;

// A numeric enum member as its number (DashboardCursorSync.Crosshair -> 1); number stays number.
// (Not `number extends T`: TypeScript lets any number into a numeric enum type.)
type NumberOf<T extends number> = `${T}` extends `${infer N extends number}` ? N : number;

/** The JSON form of a schema type: enums become the unions of their values. */
export type Wire<T> =
  IsAny<T> extends true ? T
  : T extends string ? `${T}`
  : T extends number ? NumberOf<T>
  : T extends boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? Array<Wire<U>>
  : T extends object ? { [K in keyof T]: Wire<T[K]> }
  : T;

/** As Wire, with every object key optional, at every depth. */
export type WirePartial<T> =
  IsAny<T> extends true ? T
  : T extends string ? `${T}`
  : T extends number ? NumberOf<T>
  : T extends boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? Array<WirePartial<U>>
  : T extends object ? { [K in keyof T]?: WirePartial<T[K]> }
  : T;

/** A query: the keys common to every data source, typed; the data source's own keys, open. */
export type Target = Wire<DataQuery> & Record<string, unknown>;

type FieldConfigSourceOf<Custom> = Omit<Wire<raw.FieldConfigSource>, 'defaults'> & {
  defaults: Omit<Wire<raw.FieldConfig>, 'custom'> & { custom?: Custom };
};

/** A panel of plugin `Id`; `Custom` is its fieldConfig.defaults.custom (open when it has no schema). */
type PanelOf<Id extends string, Options, Custom = Record<string, unknown>> = Omit<
  Wire<raw.Panel>,
  'type' | 'options' | 'fieldConfig' | 'targets'
> & {
  type: Id;
  options?: WirePartial<Options>;
  fieldConfig?: FieldConfigSourceOf<Custom>;
  targets?: Array<Target>;
};

/** The core panel plugins whose schema @grafana/schema ships, by plugin id. */
export type KnownPanel =
  | PanelOf<'annolist', annolist.Options>
  | PanelOf<'barchart', barchart.Options, WirePartial<barchart.FieldConfig>>
  | PanelOf<'bargauge', bargauge.Options>
  | PanelOf<'candlestick', candlestick.Options, WirePartial<candlestick.FieldConfig>>
  | PanelOf<'canvas', canvas.Options>
  | PanelOf<'dashlist', dashlist.Options>
  | PanelOf<'gauge', gauge.Options>
  | PanelOf<'geomap', geomap.Options>
  | PanelOf<'heatmap', heatmap.Options, WirePartial<heatmap.FieldConfig>>
  | PanelOf<'histogram', histogram.Options, WirePartial<histogram.FieldConfig>>
  | PanelOf<'logs', logs.Options>
  | PanelOf<'news', news.Options>
  | PanelOf<'nodeGraph', nodegraph.Options>
  | PanelOf<'piechart', piechart.Options, WirePartial<piechart.FieldConfig>>
  | PanelOf<'stat', stat.Options>
  | PanelOf<'state-timeline', statetimeline.Options, WirePartial<statetimeline.FieldConfig>>
  | PanelOf<'status-history', statushistory.Options, WirePartial<statushistory.FieldConfig>>
  | PanelOf<'table', table.Options, WirePartial<table.FieldConfig>>
  | PanelOf<'text', text.Options>
  | PanelOf<'timeseries', timeseries.Options, WirePartial<timeseries.FieldConfig>>
  | PanelOf<'trend', trend.Options, WirePartial<trend.FieldConfig>>
  | PanelOf<'xychart', xychart.Options, WirePartial<xychart.FieldConfig>>;

/** A row; a collapsed row holds its panels. */
export type Row = Omit<Wire<raw.RowPanel>, 'panels'> & { panels: Array<KnownPanel> };

/** What a dashboard file must be. */
export type CheckedDashboard = Omit<Wire<raw.Dashboard>, 'panels'> & {
  panels?: Array<KnownPanel | Row>;
};

// Canaries: each must be refused, or tsc reports an unused @ts-expect-error and the check fails.
const minimal: CheckedDashboard = { schemaVersion: 39 };
const grid = { h: 8, w: 12, x: 0, y: 0 };
export const canaries: CheckedDashboard[] = [
  minimal,
  // @ts-expect-error graphTooltip is 0 | 1 | 2
  { schemaVersion: 39, graphTooltip: 'x' },
  // @ts-expect-error graphTooltip is 0 | 1 | 2
  { schemaVersion: 39, graphTooltip: 3 },
  // @ts-expect-error unknown top-level key
  { schemaVersion: 39, refreshInterval: '1m' },
  // @ts-expect-error schemaVersion is required
  { title: 'no schema version' },
  // @ts-expect-error gridPos needs h
  { schemaVersion: 39, panels: [{ type: 'stat', gridPos: { w: 12, x: 0, y: 0 } }] },
  // @ts-expect-error no such variable type
  { schemaVersion: 39, templating: { list: [{ name: 'v', type: 'dropdown' }] } },
  // @ts-expect-error no such panel plugin
  { schemaVersion: 39, panels: [{ type: 'timeserie', gridPos: grid }] },
  // @ts-expect-error a stat panel has no such colorMode
  { schemaVersion: 39, panels: [{ type: 'stat', gridPos: grid, options: { colorMode: 'rainbow' } }] },
  // @ts-expect-error a timeseries field has no such drawStyle
  { schemaVersion: 39, panels: [{ type: 'timeseries', fieldConfig: { defaults: { custom: { drawStyle: 'curve' } }, overrides: [] } }] },
  // @ts-expect-error thresholds mode is "absolute" | "percentage"
  { schemaVersion: 39, panels: [{ type: 'stat', fieldConfig: { defaults: { thresholds: { mode: 'abs', steps: [] } }, overrides: [] } }] },
  // @ts-expect-error a query needs a refId
  { schemaVersion: 39, panels: [{ type: 'stat', targets: [{ expr: 'up' }] }] },
  // @ts-expect-error a row has no options
  { schemaVersion: 39, panels: [{ type: 'row', id: 1, collapsed: false, panels: [], options: {} }] },
];
