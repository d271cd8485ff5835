/*
 * BiClient: what a BI tool (Metabase, Looker) does with car, through the
 * PostgreSQL JDBC driver Debian ships (libpostgresql-jdbc-java), the driver
 * those tools bundle.
 *
 *   java -cp /usr/share/java/postgresql.jar test/bi/BiClient.java JDBC-URL USER
 *
 * The password comes from the environment variable BI_PASSWORD (none: the
 * server must trust the user).  test/bi_client.sh runs it against a private
 * server holding Cambridge building b0's 2021 meter files and diffs its
 * standard output with test/bi/expected.out.
 *
 * It prints, in a stable order:
 *  1. the schema sync: DatabaseMetaData.getTables(null, "car", "report_%",
 *     VIEW) and getColumns() of each view, with the view's and each column's
 *     REMARKS (car's COMMENTs) and the type name the driver reports;
 *  2. report queries, as PreparedStatements with parameters: report_monthly
 *     and report_scope for UCam b0 in January 2021, report_yearly and
 *     report_intensity for 2021; numbers rounded in SQL so that the output
 *     does not depend on the order floating-point sums were added in;
 *  3. that the login is read-only: reading landed files, inserting into
 *     car.site and running car.refresh() all fail, with their SQLState.
 *
 * How expected.out's figures were checked (see also test/bi/README.md):
 * test/bi_client.sh recomputes every kWh and kg CO2e figure of the monthly
 * and yearly lines from the raw readings (car.reading, months in
 * Europe/London time) priced one by one with car.emissions(), not from
 * car.emission_daily which the views read, and compares them with this
 * program's output; and from the published facts: b0's 2021 electricity file
 * has 8,760 hourly readings totalling 164,392.8 kWh (SOURCES.md), and the UK
 * electricity generation factor for 2021 is 0.21233 kg CO2e/kWh, so Scope 2
 * for the year is 164,392.8 x 0.21233 = 34,905.52 kg, the yearly line's
 * scope2 figure.
 */
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;

public class BiClient {
	/* the site and period the reports are asked for: test/bi_client.sh's data, unless the environment says */
	static final String SITE = envOr("BI_SITE", "UCam b0");
	static final LocalDate MONTH = LocalDate.parse(envOr("BI_MONTH", "2021-01-01"));
	static final int YEAR = Integer.parseInt(envOr("BI_YEAR", "2021"));

	static String envOr(String name, String otherwise) {
		String v = System.getenv(name);
		return v == null || v.isEmpty() ? otherwise : v;
	}

	public static void main(String[] args) throws Exception {
		if (args.length != 2) {
			System.err.println("usage: BiClient JDBC-URL USER   (password in $BI_PASSWORD)");
			System.exit(2);
		}
		Properties props = new Properties();
		props.setProperty("user", args[1]);
		String password = System.getenv("BI_PASSWORD");
		if (password != null)
			props.setProperty("password", password);
		props.setProperty("ApplicationName", "car BI client test");

		try (Connection c = DriverManager.getConnection(args[0], props)) {
			DatabaseMetaData md = c.getMetaData();
			System.err.println("driver " + md.getDriverName() + " " + md.getDriverVersion()
					+ ", server " + md.getDatabaseProductVersion());
			System.out.println("connected as " + md.getUserName() + " to " + md.getDatabaseProductName()
					+ " " + md.getDatabaseMajorVersion() + " with " + md.getDriverName());
			who(c);
			schemaSync(md);
			reports(c);
			readOnly(c);
		}
	}

	static void who(Connection c) throws SQLException {
		try (Statement s = c.createStatement();
				ResultSet r = s.executeQuery("SELECT current_user, pg_has_role('car_reader', 'MEMBER'), "
						+ "rolsuper, pg_has_role('car_ingest', 'MEMBER') FROM pg_roles WHERE rolname = current_user")) {
			r.next();
			System.out.println("role " + r.getString(1) + ": member of car_reader " + r.getBoolean(2)
					+ ", of car_ingest " + r.getBoolean(4) + ", superuser " + r.getBoolean(3));
		}
	}

	/* What a schema sync reads: the views, their columns, types and comments. */
	static void schemaSync(DatabaseMetaData md) throws SQLException {
		System.out.println();
		System.out.println("== schema sync: getTables(null, \"car\", \"report_%\", {\"VIEW\"}) and getColumns()");
		List<String> views = new ArrayList<>();
		List<String> viewRemarks = new ArrayList<>();
		try (ResultSet t = md.getTables(null, "car", "report_%", new String[] {"VIEW"})) {
			while (t.next()) {
				views.add(t.getString("TABLE_SCHEM") + "." + t.getString("TABLE_NAME") + " ("
						+ t.getString("TABLE_TYPE") + ")");
				viewRemarks.add(t.getString("REMARKS"));
			}
		}
		int ncols = 0, uncommented = 0;
		for (int i = 0; i < views.size(); i++) {
			String view = views.get(i);
			String name = view.substring("car.".length(), view.indexOf(' '));
			System.out.println();
			System.out.println(view + ": " + viewRemarks.get(i));
			/* getColumns orders by schema, table and ordinal position; check it */
			int last = 0;
			try (ResultSet col = md.getColumns(null, "car", name, "%")) {
				while (col.next()) {
					int pos = col.getInt("ORDINAL_POSITION");
					if (pos <= last)
						throw new IllegalStateException("getColumns out of order at " + name + "." + pos);
					last = pos;
					String remarks = col.getString("REMARKS");
					ncols++;
					if (remarks == null || remarks.isEmpty())
						uncommented++;
					System.out.printf(Locale.ROOT, "  %2d %-16s %-8s %s%n", pos, col.getString("COLUMN_NAME"),
							col.getString("TYPE_NAME"), remarks == null ? "(no comment)" : remarks);
				}
			}
		}
		System.out.println();
		System.out.println("views: " + views.size() + ", columns: " + ncols);
		System.out.println("columns without a comment: " + uncommented);
	}

	static void reports(Connection c) throws SQLException {
		System.out.println();
		System.out.println("== report_monthly, site = '" + SITE + "', month = " + MONTH);
		query(c, "monthly", """
				SELECT month::text, activity, unit, round(quantity::numeric, 1) AS quantity,
				       round(kg_co2e::numeric, 2) AS kg_co2e, round(tonnes_co2e::numeric, 3) AS tonnes_co2e,
				       round(scope1_kg_co2e::numeric, 2) AS scope1, round(scope2_kg_co2e::numeric, 2) AS scope2,
				       round(scope3_kg_co2e::numeric, 2) AS scope3, meters, days_with_data, factor_years
				FROM car.report_monthly WHERE site = ? AND month = ? ORDER BY activity""", SITE, MONTH);

		System.out.println();
		System.out.println("== report_scope, site = '" + SITE + "', month = " + MONTH);
		query(c, "by_scope", """
				SELECT month::text, scope, activity, component, round(kg_co2e::numeric, 2) AS kg_co2e,
				       round(kg_co2::numeric, 2) AS kg_co2, round(kg_ch4::numeric, 2) AS kg_ch4,
				       round(kg_n2o::numeric, 2) AS kg_n2o
				FROM car.report_scope WHERE site = ? AND month = ? ORDER BY scope, activity, component""",
				SITE, MONTH);

		System.out.println();
		System.out.println("== report_yearly, site = '" + SITE + "', year = " + YEAR);
		query(c, "yearly", """
				SELECT reporting_year, activity, unit, round(quantity::numeric, 1) AS quantity,
				       round(kg_co2e::numeric, 2) AS kg_co2e, round(tonnes_co2e::numeric, 3) AS tonnes_co2e,
				       round(scope1_kg_co2e::numeric, 2) AS scope1, round(scope2_kg_co2e::numeric, 2) AS scope2,
				       round(scope3_kg_co2e::numeric, 2) AS scope3, meters, days_with_data, factor_years
				FROM car.report_yearly WHERE site = ? AND year = ? ORDER BY activity""", SITE, YEAR);

		System.out.println();
		System.out.println("== report_intensity, site = '" + SITE + "', year = " + YEAR);
		query(c, "intensity", """
				SELECT reporting_year, floor_area_m2, round(kg_co2e::numeric, 2) AS kg_co2e,
				       round(tonnes_co2e::numeric, 3) AS tonnes_co2e,
				       round(kg_co2e_per_m2::numeric, 4) AS kg_co2e_per_m2
				FROM car.report_intensity WHERE site = ? AND year = ?""", SITE, YEAR);
	}

	/* Runs a prepared query and prints a header line, then tag|col|col... rows. */
	static void query(Connection c, String tag, String sql, Object... params) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			for (int i = 0; i < params.length; i++)
				ps.setObject(i + 1, params[i]);
			try (ResultSet r = ps.executeQuery()) {
				ResultSetMetaData m = r.getMetaData();
				StringBuilder h = new StringBuilder(tag);
				for (int i = 1; i <= m.getColumnCount(); i++)
					h.append('|').append(m.getColumnLabel(i));
				System.out.println(h);
				int rows = 0;
				while (r.next()) {
					StringBuilder b = new StringBuilder(tag);
					for (int i = 1; i <= m.getColumnCount(); i++)
						b.append('|').append(r.getString(i) == null ? "NULL" : r.getString(i));
					System.out.println(b);
					rows++;
				}
				System.out.println("(" + rows + (rows == 1 ? " row)" : " rows)"));
			}
		}
	}

	/* The login reads the reports and nothing else. */
	static void readOnly(Connection c) {
		System.out.println();
		System.out.println("== the login is read-only");
		denied(c, "SELECT * FROM car.source_file", "SELECT * FROM car.source_file LIMIT 1");
		denied(c, "INSERT INTO car.site", "INSERT INTO car.site (name, org) VALUES ('BI test', 'BI test')");
		denied(c, "UPDATE car.site", "UPDATE car.site SET floor_area_m2 = 1");
		denied(c, "SELECT car.refresh()", "SELECT car.refresh()");
	}

	static void denied(Connection c, String what, String sql) {
		try (Statement s = c.createStatement()) {
			s.execute(sql);
			System.out.println("ALLOWED " + what + " (it should have been refused)");
		} catch (SQLException e) {
			System.out.println("denied " + what + ": SQLState " + e.getSQLState() + " "
					+ e.getMessage().replaceAll("\\s+", " "));
		}
	}
}
