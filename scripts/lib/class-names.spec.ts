import { runInNewContext } from 'node:vm';
import { namingSelfReferringClasses } from './class-names';

describe(namingSelfReferringClasses.name, () => {
  it('names a class that refers to itself after its variable, as esbuild writes it, base class or not', () => {
    const bundle = [
      'var Base, InstanceLoader, ClientKafka, Plain;',
      'InstanceLoader = class _InstanceLoader {',
      '  constructor(logger = _InstanceLoader.name) { this.logger = logger; }',
      '};',
      'Base = class { };',
      'ClientKafka = class _ClientKafka extends Base {',
      '};',
      'Plain = class Plain {',
      '};',
      '[new InstanceLoader().logger, InstanceLoader.name, ClientKafka.name, Plain.name];',
    ].join('\n');
    const { source, named } = namingSelfReferringClasses(bundle);

    expect(named).toBe(2);
    expect(source.split('\n').length).toBe(bundle.split('\n').length);
    expect(runInNewContext(bundle)).toEqual(['_InstanceLoader', '_InstanceLoader', '_ClientKafka', 'Plain']);
    expect(runInNewContext(source)).toEqual(['InstanceLoader', 'InstanceLoader', 'ClientKafka', 'Plain']);
  });

  it("leaves alone a class whose inner name is not its variable's, and text that only looks like one", () => {
    const bundle = ['Other = class _Thing {', 'const text = "x.Y = class _Y {";', 'a.Y = class _Y {'].join('\n');

    expect(namingSelfReferringClasses(bundle)).toEqual({ source: bundle, named: 0 });
  });
});
