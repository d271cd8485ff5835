-- Units catalogue and car.convert
CREATE EXTENSION car CASCADE;

SELECT name, dimension, to_base FROM car.unit ORDER BY dimension, to_base, name;

-- 5 MWh = 5,000 kWh
SELECT car.convert(5, 'MWh', 'kWh') = 5000 AS mwh_ok;
-- a UK therm is 100,000 Btu(IT) = 105.505585262 MJ = 29.3071070172 kWh
SELECT abs(car.convert(1, 'therm', 'kWh') - 29.3071070172) < 1e-9 AS therm_ok,
       abs(car.convert(10, 'therms', 'MJ') - 1055.05585262) < 1e-7 AS therm_mj_ok;
-- 1 GJ = 277.78 kWh; 3.6 MJ = 1 kWh
SELECT round(car.convert(1, 'GJ', 'kWh')::numeric, 4) AS gj_in_kwh,
       abs(car.convert(3.6, 'MJ', 'kWh') - 1) < 1e-12 AS mj_ok,
       abs(car.convert(1, 'mmBtu', 'kBtu') - 1000) < 1e-9 AS btu_ok;
-- spellings from the factor files and from people
SELECT car.convert(2, 'cubic metres', 'litres') AS m3_in_litres,
       car.convert(1, 'million litres', 'm3') AS ml_in_m3,
       car.convert(1, 'M³', 'LITRES') AS superscript_and_case,
       car.convert(1, 'tonnes', 'kg') AS tonne_in_kg,
       car.convert(10, 'miles', 'km') AS miles_in_km,
       car.convert(1000, 'kWh (Gross CV)', 'MWh') AS basis_kept_through;

-- errors name both units
SELECT car.convert(1, 'kWh', 'litres');
SELECT car.convert(1, 'tonnes', 'miles');
SELECT car.convert(1, 'furlongs', 'km');
SELECT car.convert(1, 'kWh (Gross CV)', 'kWh (Net CV)');

-- users may add units; the cache sees them at once
INSERT INTO car.unit (name, dimension, to_base, aliases) VALUES ('kcal', 'energy', 4.184 / 3600, '{kilocalorie}');
SELECT abs(car.convert(3600, 'kilocalorie', 'kWh') - 4.184) < 1e-12 AS user_unit_ok;
-- two units may not share a spelling
UPDATE car.unit SET aliases = '{kwh}' WHERE name = 'kcal';
SELECT car.convert(1, 'kcal', 'kWh');
DELETE FROM car.unit WHERE name = 'kcal';
SELECT car.convert(1, 'kcal', 'kWh');
